// The stage: which view shows (idle, outgoing, in call), the in-call view and its
// buttons, leaving the stage, bringing the tab's call back after a reload, finding
// the calls this user is still in (from the server) when the page connects, and
// what the page says when the others leave.
import { CallUserState as S, CallState, CallMode } from "../zimclient.js";
import { LIMITS, ME, PENDING, activeCall, changed, on, myState, othersOf, stageOf, store, upsertCall, callType, zim,
  leave, restoreCall, updateCall } from "./store.js";
import { $, chosenTimeout, el, errorText, mark, memberItem, reportErrorInvitees, toast } from "./ui.js";
import { W, aloneNote, aloneTitle, hungUpText, inCallTitle, inCallWords as words, leftText, selfLeftText } from "./words.js";

/** Re-render every view that shows the active call. */
export const render = () => changed("stage");

const timer = { handle: null };

/** Members other than me who were in the call (Accepted now, or left after being in it). */
const everIn = (call) => othersOf(call).filter((m) => m.state === S.Accepted || m.state === S.Quit);

/** Nobody else is in the call or ringing any more, but someone was. */
export function aloneIn(call) {
  const others = othersOf(call);
  if (others.some((m) => m.state === S.Accepted || PENDING.has(m.state))) return false;
  return others.some((m) => m.state === S.Quit);
}

/** Someone left the call on this tab's stage: say so; the last other one of a two-person call
 * ends it for both, as a phone does; someone left alone in a larger call is offered to end it. */
export function memberLeft(call, userID, reason) {
  if (call.callID !== store.activeID || !store.here.has(call.callID) || myState(call) !== S.Accepted) {
    render();
    return;
  }
  if (!aloneIn(call)) {
    toast(leftText(userID, reason), "info");
    render();
    return;
  }
  if (everIn(call).length <= 1) {
    changed("hangup");
    if (call.mode === CallMode.Advanced && call.state === CallState.Started) {
      updateCall(call, { endedBy: ME });
      zim.callEnd(call.callID).catch(() => {});
    }
    leaveStage(call.callID, hungUpText(userID, reason));
    return;
  }
  toast(leftText(userID, reason), "info");
  render();
}

function renderStage() {
  const call = activeCall();
  if (call) {
    sessionStorage.setItem("call.active", call.callID);
    sessionStorage.setItem("call.connectedAt", String(call.connectedAt || ""));
  } else {
    sessionStorage.removeItem("call.active");
  }
  const stage = stageOf(call);
  $("#idle").hidden = stage !== "idle";
  $("#outgoing").hidden = stage !== "outgoing";
  $("#incall").hidden = stage !== "incall";
  mark("stage", stage);
  clearInterval(timer.handle);
  if (stage === "incall") renderInCall(call);
}

function renderInCall(call) {
  const advanced = call.mode === CallMode.Advanced;
  const live = call.state === CallState.Started;
  $("#incall-kind").textContent = words.kind(call.type, advanced);
  const alone = aloneIn(call);
  const others = othersOf(call);
  $("#incall-title").textContent = alone ? aloneTitle()
    : inCallTitle(others.filter((m) => m.state === S.Accepted).map((m) => m.userID),
      others.filter((m) => PENDING.has(m.state)).map((m) => m.userID));
  const canAct = advanced && live && myState(call) === S.Accepted;
  $("#incall-members").replaceChildren(...[...call.members.values()].map((m) => {
    const item = memberItem(m, call);
    // one click rings again a member whose invitation timed out or was declined
    if (canAct && m.userID !== ME && (m.state === S.Timeout || m.state === S.Rejected)) {
      item.append(el("button", { type: "button", class: "btn small ring-again", "aria-label": W.ringAgain(m.userID), title: W.ringAgainTitle(chosenTimeout()),
        onclick: (ev) => ringAgain(ev.target, call, m.userID) }, words.ringAgainButton()));
    }
    return item;
  }));
  $("#incall-invite").hidden = !advanced;
  $("#incall-quit").hidden = !advanced;
  $("#incall-end").hidden = !advanced;
  $("#incall-invite").disabled = !canAct || call.members.size >= LIMITS.maxParticipants;
  $("#incall-quit").disabled = !canAct;
  $("#incall-end").disabled = !canAct;
  $("#incall-hangup").hidden = advanced;
  const note = $("#incall-note");
  note.hidden = advanced && !alone;
  note.dataset.alone = alone ? "true" : "false";
  note.textContent = alone ? aloneNote(advanced) : words.generalNote();
  const tick = () => {
    const secs = Math.max(0, Math.floor((Date.now() - (call.connectedAt || Date.now())) / 1000));
    const h = Math.floor(secs / 3600);
    const mm = String(Math.floor(secs / 60) % 60).padStart(2, "0");
    const ss = String(secs % 60).padStart(2, "0");
    $("#incall-timer").textContent = h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  };
  tick();
  timer.handle = setInterval(tick, 1000);
}

async function ringAgain(button, call, userID) {
  button.disabled = true;
  try {
    const result = await zim.callingInvite([userID], call.callID, { timeout: chosenTimeout() });
    reportErrorInvitees(result.errorInvitees);
  } catch (err) {
    button.disabled = false;
    toast(words.couldNotRing(userID, errorText(err)), "bad");
  }
}

/** Leave the stage of callID, saying `message` (if any). */
export function leaveStage(callID, message) {
  if (message) toast(message, "info");
  leave(callID);
}

/** Leave the call on the stage (to answer another one). */
export async function hangUpActive() {
  const call = activeCall();
  if (!call) return;
  changed("hangup");
  if (call.mode === CallMode.Advanced && call.state === CallState.Started) await zim.callQuit(call.callID).catch(() => {});
  leaveStage(call.callID, "");
}

/** A reload keeps the tab's call: sessionStorage remembers it, queryCall brings it back. */
const restoring = { callID: null, connectedAt: 0 }; // read by initStage

export async function restoreAfterReload() {
  const callID = restoring.callID;
  restoring.callID = null; // once
  if (!callID || store.activeID) return;
  try {
    const info = await zim.queryCall(callID);
    const mine = info.callUserList.find((m) => m.userID === ME)?.state;
    const ringingOut = info.caller === ME && info.callUserList.some((m) => PENDING.has(m.state));
    if (info.state !== CallState.Started || !(mine === S.Accepted || ringingOut) || store.activeID) {
      return;
    }
    const call = upsertCall(info, { replace: true, fields: { type: callType(info.extendedData) } });
    updateCall(call, { connectedAt: restoring.connectedAt || call.connectedAt });
    zim.hold(callID, info.seq);
    restoreCall(callID);
  } catch {
    // gone: nothing to restore
  }
}

/** The calls this user is still in (Accepted in a Started call), from the server's list of its
 * calls: on another tab or device, or on none any more (every window closed). The page offers
 * them (elsewhere.js) whatever this tab remembers. */
export async function loadCallsStillIn() {
  let list;
  try {
    ({ callList: list } = await zim.queryCallInvitationList({ count: 20, nextFlag: 0 }));
  } catch {
    return; // not connected: the next connection asks again
  }
  for (const info of list) {
    const mine = info.callUserList.find((m) => m.userID === ME)?.state;
    if (info.state !== CallState.Started || mine !== S.Accepted || store.here.has(info.callID)) continue;
    upsertCall(info, { replace: true, fields: { state: info.state, type: callType(info.extendedData) } });
    zim.hold(info.callID, info.seq);
  }
  render();
}

/** Run an in-call action; on success leave the stage with `done`, else say what failed (`failed(error)`). */
async function act(failed, operation, done) {
  const call = activeCall();
  changed("hangup"); // media says bye while this user may still signal
  try {
    await operation(call);
    leaveStage(call.callID, done);
  } catch (err) {
    toast(failed(errorText(err)), "bad");
  }
}

export function initStage() {
  Object.assign(restoring, { callID: sessionStorage.getItem("call.active"), connectedAt: Number(sessionStorage.getItem("call.connectedAt")) });
  on("stage", renderStage);
  $("#incall-quit").addEventListener("click", () => act(words.couldNotLeave, (call) => zim.callQuit(call.callID), selfLeftText()));
  $("#incall-end").addEventListener("click", () => act(words.couldNotEnd, async (call) => {
    await zim.callEnd(call.callID);
    updateCall(call, { endedBy: ME });
  }, words.endedForEveryone()));
  $("#incall-hangup").addEventListener("click", () => {
    const call = activeCall();
    if (!call) return;
    changed("hangup");
    leaveStage(call.callID, words.hungUp());
  });
}
