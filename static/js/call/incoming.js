// Incoming calls: the ringing dialog (oldest first), the ringtone, accept / reject /
// busy / dismiss (this tab only), and a desktop notification while the tab is hidden.
// While this tab is in a call an invitation does not ring loudly: a quiet banner
// offers Busy or Leave & answer. A silent invitation (do not disturb) shows the same
// banner, Decline or Answer, with no sound and no notification.
// For screen readers the dialog is an alertdialog (named by its title, described by the
// call's kind and who else is invited); it takes the focus when it opens and gives it back
// where it was when it closes. Alt+Shift+A accepts and Alt+Shift+D declines, except while
// the focus is in a text field (so typing never answers a call).
import { Ringtone } from "../ringtone.js";
import { bringForward, dismiss as dismissHere, enterCall, inCall, isRinging, nameOf, on, othersOf, ring, stopRinging, store, zim } from "./store.js";
import { settings, onSetting } from "./settings.js";
import { hangUpActive, render } from "./stage.js";
import { $, errorText, initials, mark, toast } from "./ui.js";
import { chosenRingtone } from "./tones.js";
import { callingYou, incomingKind, statusWords, ringingWords as words } from "./words.js";

const ringtone = new Ringtone(chosenRingtone);
const countdown = { handle: null };
const dialog = () => $("#incoming");
/** Where the focus was before the dialog took it, to give it back. */
const focusBefore = { element: null };

/** Ring for a new invitation (unless it already rings here, or was dismissed here). */
export function startRinging(call) {
  const asked = wanted.callID === call.callID && Date.now() < wanted.until;
  if (!ring(call.callID, { first: asked })) return;
  const accept = asked && wanted.accept;
  if (asked) wanted.callID = null;
  if (accept) {
    answer("accept", call.callID);
    return;
  }
  if (!call.silent) notify(call);
}

// Accept pressed on the service worker's notification (static/sw.js): the worker
// focuses this page and posts {type: "notificationAccept"}, or opens
// /?accept=<callID>&proof=<proof>, and this page accepts only once the worker confirms
// the proof. A link with no valid proof may come from anywhere (a cross-site link carries
// the session cookie): it only brings that call's ringing dialog forward.
// The invitation may not have arrived yet (the page is still connecting): wait for it.
const wanted = { callID: null, accept: false, until: 0 };

function want(callID, accept) {
  if (isRinging(callID)) {
    bringForward(callID);
    if (accept) answer("accept", callID);
  } else if (accept || wanted.callID !== callID || !wanted.accept) {
    Object.assign(wanted, { callID, accept, until: Date.now() + 30000 });
  }
}

/** Ask this site's service worker whether `proof` is the one it made for Accept on callID (used once). */
function redeemAcceptProof(callID, proof) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 10000);
    const done = (ok) => { clearTimeout(timer); resolve(ok); };
    if (!navigator.serviceWorker) return done(false);
    navigator.serviceWorker.ready.then((registration) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => done(event.data?.ok === true);
      registration.active.postMessage({ type: "redeemAcceptProof", callID, proof }, [channel.port2]);
    }).catch(() => done(false));
  });
}

function initNotificationAnswers() {
  const params = new URLSearchParams(location.search);
  const callID = params.get("accept");
  const proof = params.get("proof");
  if (params.has("accept") || params.has("proof")) {
    params.delete("accept");
    params.delete("proof");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  if (callID) {
    want(callID, false);
    if (proof) redeemAcceptProof(callID, proof).then((ok) => { if (ok) want(callID, true); });
  }
  navigator.serviceWorker?.addEventListener("message", (event) => {
    // only a service worker of this origin can post here
    if (event.data?.type === "notificationAccept" && event.data.callID) want(event.data.callID, true);
  });
}

function renderWaiting(call) {
  const from = call.inviter || call.caller;
  $("#call-waiting-caller").textContent = nameOf(from);
  $("#call-waiting-avatar").textContent = initials(nameOf(from));
  const busy = inCall();
  $("#call-waiting-kind").textContent = busy ? words.waitingKind(call.type, store.ringing.length - 1)
    : statusWords.quietKind(call.type);
  $("#call-waiting-busy").textContent = busy ? statusWords.busy() : statusWords.decline();
  $("#call-waiting-answer").textContent = busy ? statusWords.leaveAndAnswer() : statusWords.answer();
  $("#call-waiting").dataset.callId = call.callID;
  $("#call-waiting").hidden = false;
}

function renderIncoming() {
  const callID = store.ringing[0];
  const incoming = dialog();
  clearInterval(countdown.handle);
  $("#call-waiting").hidden = true;
  if (!callID) {
    ringtone.stop();
    mark("ringing", "false");
    closeDialog();
    return;
  }
  const call = store.calls.get(callID);
  if ((inCall() && store.activeID !== callID) || call.silent) {
    // in a call, or do not disturb: no ringtone, no dialog over the call, just the banner
    ringtone.stop();
    closeDialog();
    mark("ringing", "quiet");
    renderWaiting(call);
    return;
  }
  const from = call.inviter || call.caller;
  $("#incoming-caller").textContent = nameOf(from);
  $("#incoming-avatar").textContent = initials(nameOf(from));
  $("#incoming-kind").textContent = incomingKind(call.type);
  const others = othersOf(call).filter((m) => m.userID !== from).map((m) => m.userID);
  $("#incoming-detail").textContent = words.withOthers(others);
  $("#incoming-busy").hidden = !inCall();
  $("#incoming-more").hidden = store.ringing.length < 2;
  $("#incoming-more").textContent = words.moreWaiting(store.ringing.length - 1);
  incoming.dataset.callId = callID;
  const tick = () => {
    if (!call.deadline) { // timeout 0: no deadline, no countdown
      $("#incoming-countdown").textContent = words.ringsUntilAnswered();
      return;
    }
    const left = Math.ceil((call.deadline - zim.serverNow()) / 1000);
    $("#incoming-countdown").textContent = left > 0 ? words.ringsFor(left) : "";
    if (left <= 0) stopRinging(callID); // the server's timeout event follows
  };
  tick();
  countdown.handle = setInterval(tick, 1000);
  mark("ringing", "true");
  ringtone.muted = settings.muted;
  $("#incoming-mute").textContent = words.ringtoneButton(settings.muted);
  $("#incoming-mute").setAttribute("aria-pressed", String(settings.muted));
  ringtone.start();
  if (!incoming.open) openDialog();
}

/** The focused element, inside shadow roots too. */
function focused() {
  let element = document.activeElement;
  while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
  return element;
}

function isTextField(element) {
  if (!element) return false;
  if (element.isContentEditable || element.tagName === "TEXTAREA") return true;
  if (element.tagName !== "INPUT") return false;
  return !["button", "checkbox", "radio", "range", "color", "file", "submit", "reset", "image"].includes(element.type);
}

function openDialog() {
  const before = focused();
  focusBefore.element = before && before !== document.body ? before : null;
  dialog().showModal();
  // Accept takes the focus (Enter answers), unless the person was typing: then the dialog
  // itself does, so the next key typed does not answer the call.
  if (isTextField(before)) dialog().focus();
  else $("#incoming-accept").focus();
}

function closeDialog() {
  const incoming = dialog();
  if (!incoming.open) return;
  incoming.close();
  const back = focusBefore.element;
  focusBefore.element = null;
  // back where it was, unless that part of the page is gone or hidden now (the call's stage took over)
  if (back?.isConnected && back.getClientRects().length && !back.disabled) back.focus();
}

/** Alt+Shift+A / Alt+Shift+D (by key position: the same on every layout), never from a text field. */
function answerByKey(event) {
  if (!event.altKey || !event.shiftKey || event.ctrlKey || event.metaKey) return;
  const action = { KeyA: "accept", KeyD: "decline" }[event.code];
  if (!action || !store.ringing.length || isTextField(event.composedPath()[0])) return;
  event.preventDefault();
  if (action === "accept") answer("accept");
  else answer(inCall() ? "busy" : "reject");
}

/** Stop ringing here only: the invitation stays open on the user's other tabs and devices. */
function dismiss() {
  const callID = store.ringing[0];
  if (!callID) return;
  dismissHere(callID);
  const call = store.calls.get(callID);
  toast(words.dismissedHere(call.inviter || call.caller), "info");
}

async function answer(action, callID = store.ringing[0]) {
  if (!callID || !isRinging(callID)) return;
  const call = store.calls.get(callID);
  const buttons = [...dialog().querySelectorAll("button"), ...$("#call-waiting").querySelectorAll("button")];
  for (const b of buttons) b.disabled = true;
  try {
    if (action === "accept") {
      if (store.activeID && store.activeID !== callID && inCall()) await hangUpActive();
      await zim.callAccept(callID);
      enterCall(call);
    } else {
      await zim.callReject(callID, { reason: action === "busy" ? "busy" : "declined" });
    }
  } catch (err) {
    toast(action === "accept" ? words.couldNotAccept(errorText(err)) : words.couldNotReject(errorText(err)), "bad");
  } finally {
    for (const b of buttons) b.disabled = false;
    stopRinging(callID);
    render();
  }
}

function notify(call) {
  if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
  const from = call.inviter || call.caller;
  const title = call.pushConfig?.title || incomingKind(call.type);
  const body = call.pushConfig?.content || callingYou(from);
  const n = new Notification(title, { body, tag: call.callID, requireInteraction: true });
  n.onclick = () => { window.focus(); n.close(); };
  const watcher = setInterval(() => {
    if (!isRinging(call.callID)) { n.close(); clearInterval(watcher); }
  }, 1000);
}

/** answersFromNotifications: Accept on this site's notifications and /?accept= links (the site's
 * page; not a page of an app that embeds the kit, whose URL and service worker are its own). */
export function initIncoming({ answersFromNotifications = true } = {}) {
  on("ringing", renderIncoming);
  dialog().addEventListener("cancel", (ev) => ev.preventDefault()); // Escape must not silently drop a call
  window.addEventListener("keydown", answerByKey, { capture: true });
  $("#incoming-accept").addEventListener("click", () => answer("accept"));
  $("#incoming-reject").addEventListener("click", () => answer("reject"));
  $("#incoming-busy").addEventListener("click", () => answer("busy"));
  $("#incoming-dismiss").addEventListener("click", dismiss);
  // entering or leaving a call switches between the loud dialog and the quiet banner
  const quiet = { was: inCall() };
  on("stage", () => {
    if (inCall() !== quiet.was) {
      quiet.was = inCall();
      if (store.ringing.length) renderIncoming();
    }
  });
  $("#call-waiting-busy").addEventListener("click", () => answer(inCall() ? "busy" : "reject"));
  $("#call-waiting-answer").addEventListener("click", () => answer("accept"));
  $("#incoming-mute").addEventListener("click", () => { settings.muted = !settings.muted; });
  onSetting("muted", (muted) => {
    ringtone.muted = muted;
    if (store.ringing.length) renderIncoming();
  });
  // the browser lets a page make sound only after a user gesture
  for (const type of ["pointerdown", "keydown"]) {
    window.addEventListener(type, () => ringtone.unlock(), { capture: true, passive: true });
  }
  if (answersFromNotifications) initNotificationAnswers();
  renderIncoming();
}
