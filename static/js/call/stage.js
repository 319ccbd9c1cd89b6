// The stage: which view shows (idle, outgoing, in call), the in-call view and its
// buttons, leaving the stage, and bringing the tab's call back after a reload.
import { CallUserState as S, CallState, CallMode } from "../zimclient.js";
import { LIMITS, ME, PENDING, activeCall, changed, on, myState, othersOf, stageOf, store, upsertCall, callType, zim } from "./store.js";
import { $, el, errorText, kindText, memberItem, toast } from "./ui.js";
import { chosenTimeout, reportErrorInvitees } from "./outgoing.js";
import { W, inCallTitle } from "./words.js";

/** Re-render every view that shows the active call. */
export const render = () => changed("stage");

const timer = { handle: null };

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
  document.body.dataset.stage = stage;
  clearInterval(timer.handle);
  if (stage === "incall") renderInCall(call);
}

function renderInCall(call) {
  const kind = kindText(call.type);
  const advanced = call.mode === CallMode.Advanced;
  const live = call.state === CallState.Started;
  $("#incall-kind").textContent = `${kind[0].toUpperCase()}${kind.slice(1)} call · ${advanced ? "advanced" : "general"} mode`;
  const others = othersOf(call);
  $("#incall-title").textContent = inCallTitle(others.filter((m) => m.state === S.Accepted).map((m) => m.userID),
    others.filter((m) => PENDING.has(m.state)).map((m) => m.userID));
  const canAct = advanced && live && myState(call) === S.Accepted;
  $("#incall-members").replaceChildren(...[...call.members.values()].map((m) => {
    const item = memberItem(m, call);
    // one click rings again a member whose invitation timed out or was declined
    if (canAct && m.userID !== ME && (m.state === S.Timeout || m.state === S.Rejected)) {
      item.append(el("button", { type: "button", class: "btn small ring-again", "aria-label": W.ringAgain(m.userID), title: W.ringAgainTitle(chosenTimeout()),
        onclick: (ev) => ringAgain(ev.target, call, m.userID) }, "Ring again"));
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
  note.hidden = advanced;
  note.textContent = "General mode: the invitation is complete; Hang up closes the call on this side.";
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

/** This tab is in `call` now (accepted, joined, or merged by glare): show it on the stage. */
export function enterCall(call) {
  store.here.add(call.callID);
  store.activeID = call.callID;
  const me = call.members.get(ME);
  if (me) me.state = S.Accepted;
  else call.members.set(ME, { userID: ME, state: S.Accepted, reason: "" });
  if (!call.connectedAt) call.connectedAt = Date.now();
  render();
}

async function ringAgain(button, call, userID) {
  button.disabled = true;
  try {
    const result = await zim.callingInvite([userID], call.callID, { timeout: chosenTimeout() });
    reportErrorInvitees(result.errorInvitees);
  } catch (err) {
    button.disabled = false;
    toast(`Could not ring ${userID}: ${errorText(err)}`, "bad");
  }
}

export function leaveStage(callID, message) {
  if (store.activeID === callID) store.activeID = null;
  store.here.delete(callID);
  if (message) toast(message, "info");
  render();
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
const restoring = { callID: sessionStorage.getItem("call.active"), connectedAt: Number(sessionStorage.getItem("call.connectedAt")) };

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
    const call = upsertCall(info, { replace: true });
    call.type = callType(info.extendedData);
    call.connectedAt = restoring.connectedAt || call.connectedAt;
    store.here.add(callID);
    zim.hold(callID, info.seq);
    store.activeID = callID;
    render();
  } catch {
    // gone: nothing to restore
  }
}

/** Run an in-call action; on success leave the stage with `done`, else say what failed. */
async function act(what, operation, done) {
  const call = activeCall();
  changed("hangup"); // media says bye while this user may still signal
  try {
    await operation(call);
    leaveStage(call.callID, done);
  } catch (err) {
    toast(`Could not ${what}: ${errorText(err)}`, "bad");
  }
}

export function initStage() {
  on("stage", renderStage);
  $("#incall-quit").addEventListener("click", () => act("leave", (call) => zim.callQuit(call.callID), "You left the call"));
  $("#incall-end").addEventListener("click", () => act("end", async (call) => {
    await zim.callEnd(call.callID);
    call.endedBy = ME;
  }, "Call ended for everyone"));
  $("#incall-hangup").addEventListener("click", () => {
    const call = activeCall();
    if (!call) return;
    changed("hangup");
    leaveStage(call.callID, "Hung up");
  });
}
