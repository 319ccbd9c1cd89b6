// Placing a call: the call form, the outgoing view while it rings, cancel, and
// closing a call that nobody can answer any more.
import { CallUserState as S, CallState, CallMode } from "../zimclient.js";
import { ME, PENDING, activeCall, inCall, invitees, mergeMembers, on, stageOf, store, upsertCall, zim } from "./store.js";
import { renderUsers } from "./people.js";
import { leaveStage, render } from "./stage.js";
import { $, errorText, kindText, memberItem, showError, stateLabel, toast } from "./ui.js";

/** The ring time the user chose in the call form (the server's default until changed). */
export const chosenTimeout = () => Number($("#call-timeout").value);

/** Invitees the server did not invite, as toasts. */
export function reportErrorInvitees(errorInvitees) {
  for (const e of errorInvitees) toast(`${e.userID} was not invited (${e.reason.replaceAll("_", " ")})`, "warn");
}

export async function placeCall(list, { type, mode, timeout }, errorBox) {
  errorBox.hidden = true;
  if (store.activeID && inCall()) {
    showError(errorBox, "You are already in a call. Leave it first.");
    return false;
  }
  const config = {
    mode,
    timeout,
    extendedData: JSON.stringify({ type }),
    pushConfig: { title: `Incoming ${type} call`, content: `${ME} is calling you`, payload: "" },
  };
  try {
    const result = await zim.callInvite(list, config);
    const call = upsertCall({ callID: result.callID, caller: ME, mode, extendedData: config.extendedData });
    if (!call.members.size) {
      mergeMembers(call, [{ userID: ME, state: S.Accepted },
        ...list.filter((u) => !result.errorInvitees.some((e) => e.userID === u)).map((u) => ({ userID: u, state: S.Inviting }))]);
    }
    store.here.add(result.callID);
    store.activeID = result.callID;
    reportErrorInvitees(result.errorInvitees);
    store.picked.clear();
    renderUsers();
    render();
    checkCallerOutcome(call);
    return true;
  } catch (err) {
    showError(errorBox, errorText(err));
    return false;
  }
}

/** "bob: declined, carol: no answer" */
export function outcome(call) {
  return invitees(call).map((m) => `${m.userID}: ${stateLabel(m).toLowerCase()}`).join(", ");
}

/** A caller's call that nobody can answer any more: close it (advanced mode would live on). */
export function checkCallerOutcome(call) {
  if (!store.here.has(call.callID) || call.caller !== ME || call.state !== CallState.Started) return;
  const list = invitees(call);
  if (!list.length || list.some((m) => PENDING.has(m.state) || m.state === S.Accepted)) return;
  if (call.mode === CallMode.Advanced && !call.connectedAt && !call.closing) {
    call.closing = true;
    zim.callEnd(call.callID).catch(() => {});
    leaveStage(call.callID, `Nobody answered (${outcome(call)})`);
  }
}

function renderOutgoing() {
  const call = activeCall();
  if (stageOf(call) !== "outgoing") return;
  const list = invitees(call);
  $("#outgoing-kind").textContent = `Outgoing ${kindText(call.type)} call · ${call.mode === CallMode.Advanced ? "advanced" : "general"} mode`;
  $("#outgoing-title").textContent = `Calling ${list.map((m) => m.userID).join(", ")}`;
  $("#outgoing-members").replaceChildren(...list.map((m) => memberItem(m, call)));
  $("#outgoing-cancel").disabled = !list.some((m) => PENDING.has(m.state));
}

export function initOutgoing() {
  on("stage", renderOutgoing);
  $("#call-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!store.picked.size) return;
    const type = new FormData(ev.target).get("type") || "video";
    await placeCall([...store.picked], { type, mode: Number($("#call-mode").value), timeout: chosenTimeout() }, $("#call-error"));
  });
  $("#outgoing-cancel").addEventListener("click", async () => {
    const call = activeCall();
    if (!call) return;
    try {
      await zim.callCancel([], call.callID);
      // advanced mode would keep the caller alone in the call: close it too
      if (call.mode === CallMode.Advanced) await zim.callEnd(call.callID).catch(() => {});
      leaveStage(call.callID, "Call cancelled");
    } catch (err) {
      toast(`Could not cancel: ${errorText(err)}`, "bad");
    }
  });
}
