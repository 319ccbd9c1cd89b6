// Incoming calls: the ringing dialog (oldest first), the ringtone, accept / reject /
// busy, and a desktop notification while the tab is hidden.
import { CallUserState as S } from "../zimclient.js";
import { Ringtone } from "../ringtone.js";
import { ME, inCall, othersOf, store, zim } from "./store.js";
import { settings, onSetting } from "./settings.js";
import { hangUpActive, render } from "./stage.js";
import { $, errorText, initials, kindText, toast } from "./ui.js";

const ringtone = new Ringtone();
const countdown = { handle: null };
const dialog = () => $("#incoming");

export const isRinging = (callID) => store.ringing.includes(callID);

/** Ring for a new invitation (unless it already rings here). */
export function startRinging(call) {
  if (isRinging(call.callID)) return;
  store.ringing.push(call.callID);
  renderIncoming();
  notify(call);
}

export function stopRinging(callID) {
  const i = store.ringing.indexOf(callID);
  if (i >= 0) store.ringing.splice(i, 1);
  renderIncoming();
}

function renderIncoming() {
  const callID = store.ringing[0];
  const incoming = dialog();
  clearInterval(countdown.handle);
  if (!callID) {
    ringtone.stop();
    document.body.dataset.ringing = "false";
    if (incoming.open) incoming.close();
    return;
  }
  const call = store.calls.get(callID);
  const from = call.inviter || call.caller;
  $("#incoming-caller").textContent = from;
  $("#incoming-avatar").textContent = initials(from);
  $("#incoming-kind").textContent = `Incoming ${kindText(call.type)} call`;
  const others = othersOf(call).filter((m) => m.userID !== from).map((m) => m.userID);
  $("#incoming-detail").textContent = others.length ? `With ${others.join(", ")}` : "Only you are invited";
  $("#incoming-busy").hidden = !inCall();
  $("#incoming-more").hidden = store.ringing.length < 2;
  $("#incoming-more").textContent = `${store.ringing.length - 1} more call(s) waiting`;
  incoming.dataset.callId = callID;
  const tick = () => {
    const left = Math.ceil(((call.deadline || 0) - zim.serverNow()) / 1000);
    $("#incoming-countdown").textContent = left > 0 ? `Rings for ${left} more second${left === 1 ? "" : "s"}` : "";
    if (call.deadline && left <= 0) stopRinging(callID); // the server's timeout event follows
  };
  tick();
  countdown.handle = setInterval(tick, 1000);
  document.body.dataset.ringing = "true";
  ringtone.muted = settings.muted;
  $("#incoming-mute").textContent = settings.muted ? "Unmute ringtone" : "Mute ringtone";
  $("#incoming-mute").setAttribute("aria-pressed", String(settings.muted));
  ringtone.start();
  if (!incoming.open) {
    incoming.showModal();
    $("#incoming-accept").focus();
  }
}

async function answer(action) {
  const callID = store.ringing[0];
  if (!callID) return;
  const call = store.calls.get(callID);
  const buttons = dialog().querySelectorAll("button");
  for (const b of buttons) b.disabled = true;
  try {
    if (action === "accept") {
      if (store.activeID && store.activeID !== callID && inCall()) await hangUpActive();
      await zim.callAccept(callID);
      store.here.add(callID);
      store.activeID = callID;
      const me = call.members.get(ME);
      if (me) me.state = S.Accepted;
      if (!call.connectedAt) call.connectedAt = Date.now();
    } else {
      await zim.callReject(callID, { reason: action === "busy" ? "busy" : "declined" });
    }
  } catch (err) {
    toast(`Could not ${action === "accept" ? "accept" : "reject"}: ${errorText(err)}`, "bad");
  } finally {
    for (const b of buttons) b.disabled = false;
    stopRinging(callID);
    render();
  }
}

function notify(call) {
  if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
  const from = call.inviter || call.caller;
  const title = call.pushConfig?.title || `Incoming ${kindText(call.type)} call`;
  const body = call.pushConfig?.content || `${from} is calling you`;
  const n = new Notification(title, { body, tag: call.callID, requireInteraction: true });
  n.onclick = () => { window.focus(); n.close(); };
  const watcher = setInterval(() => {
    if (!isRinging(call.callID)) { n.close(); clearInterval(watcher); }
  }, 1000);
}

export function initIncoming() {
  dialog().addEventListener("cancel", (ev) => ev.preventDefault()); // Escape must not silently drop a call
  $("#incoming-accept").addEventListener("click", () => answer("accept"));
  $("#incoming-reject").addEventListener("click", () => answer("reject"));
  $("#incoming-busy").addEventListener("click", () => answer("busy"));
  $("#incoming-mute").addEventListener("click", () => { settings.muted = !settings.muted; });
  onSetting("muted", (muted) => {
    ringtone.muted = muted;
    if (store.ringing.length) renderIncoming();
  });
  // the browser lets a page make sound only after a user gesture
  for (const type of ["pointerdown", "keydown"]) {
    window.addEventListener(type, () => ringtone.unlock(), { capture: true, passive: true });
  }
  renderIncoming();
}

