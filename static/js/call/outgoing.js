// Placing a call, the outgoing view while it rings, cancel, and closing a call that nobody
// can answer any more. (The site page's call form is callform.js.)
import { CallUserState as S, CallState, CallMode, ZIMError } from "../zimclient.js";
import { ME, PENDING, activeCall, callType, inCall, invitees, mergeMembers, on, stageOf, store, upsertCall, zim,
  callPlaced, clearPicked, enterCall, stopRinging, updateCall } from "./store.js";
import { leaveStage } from "./stage.js";
import { $, errorText, memberItem, reportErrorInvitees, showError, toast } from "./ui.js";
import { outgoingWords as words, unansweredSentence } from "./words.js";

/** Glare: the one I called was calling me; the server made my call an accept of theirs. */
async function enterMergedCall(callID) {
  stopRinging(callID);
  const info = await zim.queryCall(callID).catch(() => null);
  const call = info ? upsertCall(info, { replace: true, fields: { type: callType(info.extendedData) } }) : upsertCall({ callID });
  enterCall(call);
  toast(words.mergedByGlare(call.caller), "info");
}

/** Place a call and show it on the stage: the server's answer ({callID, timeout, errorInvitees,
 * merged?}); a refusal throws (ZIMError). options: {type, mode, timeout (0: until answered),
 * groupID?, onlineUserOnly?, data? (a string handed to the invitees), pushConfig?} */
export async function sendInvitation(list, { type, mode, timeout, groupID, onlineUserOnly, data, pushConfig }) {
  if (store.activeID && inCall()) throw new ZIMError({ reason: "already_in_call", message: words.alreadyInCall() });
  const config = {
    mode,
    timeout,
    extendedData: JSON.stringify(data === undefined ? { type } : { type, data }),
    enableNotReceivedCheck: true, // an invitee with no device connected shows "May be offline", not "Calling…"
  };
  // Without the app's own text an offline invitee's browser words the notification in its language.
  if (pushConfig) config.pushConfig = pushConfig;
  if (groupID) config.groupID = groupID;
  if (onlineUserOnly) config.onlineUserOnly = true;
  const result = await zim.callInvite(list, config);
  if (result.merged) {
    clearPicked();
    await enterMergedCall(result.callID);
    return result;
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
  return result;
}

/** sendInvitation, saying a refusal in errorBox: the server's answer, or false. */
export async function placeCall(list, options, errorBox) {
  errorBox.hidden = true;
  try {
    return await sendInvitation(list, options);
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
