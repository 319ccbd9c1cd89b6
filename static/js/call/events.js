// The server's call events: update the store, then the views that show them.
import { CallUserState as S, CallState, CallMode } from "../zimclient.js";
import { ME, PENDING, callType, inCall, myState, store, upsertCall, zim,
  isRinging, memberChanged, stopRinging, updateCall } from "./store.js";
import { settings } from "./settings.js";
import { startRinging } from "./incoming.js";
import { addMissed } from "./missed.js";
import { checkCallerOutcome, outcome } from "./outgoing.js";
import { leaveStage, memberLeft, render } from "./stage.js";
import { inCallWords, ringingWords, selfAwayText, selfLeftText } from "./words.js";
import { toast } from "./ui.js";

function onCallEnded(call) {
  zim.forget(call.callID);
  if (call.callID !== store.activeID) {
    render();
    return;
  }
  if (call.mode === CallMode.General && call.connectedAt && myState(call) === S.Accepted) {
    // general mode: the invitation is over once everyone answered, the call itself
    // goes on until this user hangs up
    updateCall(call, { localLive: true });
    render();
    return;
  }
  const by = call.endedBy && call.endedBy !== ME ? call.endedBy : "";
  leaveStage(call.callID, call.connectedAt ? inCallWords.ended(by) : outcome(call));
}

function invitationReceived(data, frame) {
  const call = upsertCall(data, { fields: { seq: frame.seq, deadline: data.deadline, pushConfig: data.pushConfig,
    type: callType(data.extendedData), silent: data.silent === true } });
  if (isRinging(call.callID) || store.here.has(call.callID)) return;
  if (!PENDING.has(myState(call) ?? S.Inviting)) return;
  if (inCall() && settings.autoBusy) {
    zim.callReject(call.callID, { reason: "busy" }).catch(() => {});
    toast(ringingWords.autoBusy(call.inviter || call.caller), "warn");
    return;
  }
  startRinging(call);
}

function userStateChanged(data) {
  const call = upsertCall(data);
  const mine = data.callUserList.find((m) => m.userID === ME);
  if (mine && isRinging(call.callID) && !PENDING.has(mine.state)) {
    // answered (or rejected) on another tab or device
    stopRinging(call.callID);
    if (!store.here.has(call.callID)) toast(ringingWords.handledElsewhere(mine.state), "info");
  }
  if (mine && call.callID === store.activeID && store.here.has(call.callID) && mine.state === S.Quit) {
    // left from another tab, or away (this device's socket) longer than the server waits
    leaveStage(call.callID, mine.reason === "offline" ? selfAwayText() : selfLeftText());
    return;
  }
  const left = data.callUserList.filter((m) => m.userID !== ME && m.state === S.Quit
    && call.members.get(m.userID)?.before === S.Accepted);
  for (const m of left) memberLeft(call, m.userID, m.reason);
  render();
  checkCallerOutcome(call);
}

/** General mode: the call has Ended on the server once everyone answered; a member that hangs
 * up only says `bye` to the others. It leaves this tab's call as if it had quit. */
function peerHungUp(signal) {
  if (signal.kind !== "bye") return;
  const call = store.calls.get(signal.callID);
  if (!call || call.mode !== CallMode.General || call.callID !== store.activeID || !store.here.has(call.callID)) return;
  const member = call.members.get(signal.fromUserID);
  if (!member || member.state !== S.Accepted) return;
  memberChanged(call, signal.fromUserID, { state: S.Quit, reason: "hung_up" });
  memberLeft(call, signal.fromUserID, "hung_up");
}

function invitationCancelled(data) {
  const call = upsertCall(data);
  const wasRinging = isRinging(call.callID);
  stopRinging(call.callID);
  if (wasRinging || !store.here.has(call.callID)) addMissed(call);
  zim.forget(call.callID);
  render();
}

function invitationTimeout(data) {
  const call = upsertCall(data);
  const member = call.members.get(ME);
  if (member) memberChanged(call, ME, { state: S.Timeout, reason: member.reason });
  stopRinging(call.callID);
  addMissed(call);
  render();
}

function invitationEnded(data) {
  const call = upsertCall(data, { fields: { state: CallState.Ended, endedBy: data.operatedUserID } });
  if (isRinging(call.callID)) {
    stopRinging(call.callID);
    if (myState(call) !== S.Accepted) addMissed(call);
  }
  onCallEnded(call);
}

function resynced(info) {
  if (info.missing) {
    stopRinging(info.callID);
    if (store.activeID === info.callID) leaveStage(info.callID, inCallWords.gone());
    return;
  }
  const call = upsertCall(info, { replace: true, fields: { state: info.state, type: callType(info.extendedData) } });
  const mine = myState(call);
  if (isRinging(call.callID) && (!PENDING.has(mine) || call.state === CallState.Ended)) {
    stopRinging(call.callID);
    if (mine === S.Timeout || mine === S.Cancelled) addMissed(call);
  }
  if (call.state === CallState.Ended) onCallEnded(call);
  else if (mine === S.Quit && call.callID === store.activeID && store.here.has(call.callID)) {
    // away (asleep, offline) longer than the server waits: it took this user out meanwhile
    leaveStage(call.callID, call.members.get(ME)?.reason === "offline" ? selfAwayText() : selfLeftText());
  } else {
    render();
    checkCallerOutcome(call);
  }
}

export function initEvents() {
  zim.on("callInvitationCreated", (data, frame) => {
    // every tab of the caller hears it; only the tab that placed the call shows it
    upsertCall(data, { fields: { seq: frame.seq } });
    render();
  });
  zim.on("callInvitationReceived", invitationReceived);
  zim.on("callUserStateChanged", userStateChanged);
  zim.on("callInvitationCancelled", invitationCancelled);
  zim.on("callInvitationTimeout", invitationTimeout);
  zim.on("callInvitationEnded", invitationEnded);
  zim.on("callResynced", resynced);
  zim.on("callSignalReceived", peerHungUp);
}
