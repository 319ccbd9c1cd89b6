// Placing a call: the call form, the outgoing view while it rings, cancel, and
// closing a call that nobody can answer any more.
import { CallUserState as S, CallState, CallMode } from "../zimclient.js";
import { ME, PENDING, activeCall, callType, inCall, invitees, mergeMembers, on, stageOf, store, upsertCall, zim,
  callPlaced, clearPicked, enterCall, stopRinging, updateCall } from "./store.js";
import { leaveStage } from "./stage.js";
import { $, chosenTimeout, errorText, memberItem, reportErrorInvitees, showError, toast } from "./ui.js";
import { outgoingWords as words, unansweredSentence } from "./words.js";

/** Glare: the one I called was calling me; the server made my call an accept of theirs. */
async function enterMergedCall(callID) {
  stopRinging(callID);
  const info = await zim.queryCall(callID).catch(() => null);
  const call = info ? upsertCall(info, { replace: true, fields: { type: callType(info.extendedData) } }) : upsertCall({ callID });
  enterCall(call);
  toast(words.mergedByGlare(call.caller), "info");
}

/** options: {type, mode, timeout (0: until answered), groupID?, onlineUserOnly?} */
export async function placeCall(list, { type, mode, timeout, groupID, onlineUserOnly }, errorBox) {
  errorBox.hidden = true;
  if (store.activeID && inCall()) {
    showError(errorBox, words.alreadyInCall());
    return false;
  }
  const config = {
    mode,
    timeout,
    extendedData: JSON.stringify({ type }),
    enableNotReceivedCheck: true, // an invitee with no device connected shows "May be offline", not "Calling…"
    pushConfig: { title: words.pushTitle(type), content: words.pushContent(ME), payload: "" },
  };
  if (groupID) config.groupID = groupID;
  if (onlineUserOnly) config.onlineUserOnly = true;
  try {
    const result = await zim.callInvite(list, config);
    if (result.merged) {
      clearPicked();
      await enterMergedCall(result.callID);
      return true;
    }
    const call = upsertCall({ callID: result.callID, caller: ME, mode, extendedData: config.extendedData, groupID: groupID || "" },
      { fields: { timeout } });
    if (!call.members.size) {
      mergeMembers(call, [{ userID: ME, state: S.Accepted },
        ...list.filter((u) => !result.errorInvitees.some((e) => e.userID === u)).map((u) => ({ userID: u, state: S.Inviting }))]);
    }
    reportErrorInvitees(result.errorInvitees);
    callPlaced(result.callID);
    checkCallerOutcome(call);
    return true;
  } catch (err) {
    showError(errorBox, errorText(err));
    return false;
  }
}

/** "Nobody answered: bob declined, carol is busy.", "You cancelled the call." */
export function outcome(call) {
  return unansweredSentence(invitees(call), { byMe: call.caller === ME });
}

/** A caller's call that nobody can answer any more: close it (advanced mode would live on). */
export function checkCallerOutcome(call) {
  if (!store.here.has(call.callID) || call.caller !== ME || call.state !== CallState.Started) return;
  const list = invitees(call);
  if (!list.length || list.some((m) => PENDING.has(m.state) || m.state === S.Accepted)) return;
  if (call.mode === CallMode.Advanced && !call.connectedAt && !call.closing) {
    updateCall(call, { closing: true });
    zim.callEnd(call.callID).catch(() => {});
    leaveStage(call.callID, outcome(call));
  }
}

function renderOutgoing() {
  const call = activeCall();
  if (stageOf(call) !== "outgoing") return;
  const list = invitees(call);
  $("#outgoing-kind").textContent = words.kind(call.type, call.mode === CallMode.Advanced, call.timeout === 0);
  $("#outgoing-title").textContent = words.title(list.map((m) => m.userID));
  $("#outgoing-members").replaceChildren(...list.map((m) => memberItem(m, call)));
  $("#outgoing-cancel").disabled = !list.some((m) => PENDING.has(m.state));
}

export function initOutgoing() {
  on("stage", renderOutgoing);
  $("#call-until-answered").addEventListener("change", (ev) => { $("#call-timeout").disabled = ev.target.checked; });
  $("#call-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!store.picked.size) return;
    const type = new FormData(ev.target).get("type") || "video";
    await placeCall([...store.picked], { type, mode: Number($("#call-mode").value), timeout: chosenTimeout(),
      groupID: store.pickedGroup }, $("#call-error"));
  });
  $("#outgoing-cancel").addEventListener("click", async () => {
    const call = activeCall();
    if (!call) return;
    try {
      await zim.callCancel([], call.callID);
      // advanced mode would keep the caller alone in the call: close it too
      if (call.mode === CallMode.Advanced) await zim.callEnd(call.callID).catch(() => {});
      // the call's end may have closed the stage (and said so) meanwhile
      leaveStage(call.callID, store.activeID === call.callID ? words.youCancelled() : "");
    } catch (err) {
      toast(words.couldNotCancel(errorText(err)), "bad");
    }
  });
}
