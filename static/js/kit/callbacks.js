// UIKit's invitation callbacks (docs/embedding.md has the table): from the server's events
// as the client hands them over, and from the kit's own buttons. Each fires once per
// (call, member, moment); a resync (ZIMClient's callResynced) fires the moments a lost
// event would have, with the same arguments.
//
// Order, as UIKit's: the incoming dialog opens, then onIncomingCallReceived; a cancel or a
// timeout fires its callback, then the dialog closes; a button's callback fires on the
// click, right after its command has left, before the server answers.
import { CallUserState as S, CallState } from "../zimclient.js";
import { ME, PENDING, activeCall, invitees, isRinging, learnNames as learnUserNames, nameOf, on, store, zim } from "../call/store.js";
import { $ } from "../call/ui.js";

export const CALLBACKS = Object.freeze([
  "onIncomingCallReceived", "onIncomingCallCanceled", "onIncomingCallTimeout",
  "onIncomingCallAcceptButtonPressed", "onIncomingCallDeclineButtonPressed",
  "onOutgoingCallAccepted", "onOutgoingCallRejectedCauseBusy", "onOutgoingCallDeclined",
  "onOutgoingCallTimeout", "onOutgoingCallCancelButtonPressed",
]);
/** The kit's own, beside UIKit's ten. */
export const KIT_EVENTS = Object.freeze(["onCallEnd", "onError", "onTokenWillExpire"]);
/** UIKit web's names for the same moments. */
const ALIASES = Object.freeze({ onOutgoingCallRejected: "onOutgoingCallRejectedCauseBusy" });

const handlers = new Map(); // name -> Set(handler)
const fired = new Set(); // "callID moment userID": once each
const incoming = new Map(); // callID -> {caller, done}: invitations announced here
const outgoing = new Map(); // callID -> Set(userID): whom this kit invited

/** Add handlers ({name: fn}); returns a function that removes them. */
export function listen(events) {
  const added = [];
  for (const [given, fn] of Object.entries(events || {})) {
    const name = ALIASES[given] || given;
    if (typeof fn !== "function" || !(CALLBACKS.includes(name) || KIT_EVENTS.includes(name))) continue;
    if (!handlers.has(name)) handlers.set(name, new Set());
    handlers.get(name).add(fn);
    added.push([name, fn]);
  }
  return () => { for (const [name, fn] of added) handlers.get(name)?.delete(fn); };
}

export function emit(name, ...args) {
  for (const fn of handlers.get(name) || []) {
    try { fn(...args); } catch (err) { console.error(`callkit ${name} handler`, err); }
  }
}

/** Forget everything (the kit is destroyed). */
export function forgetAll() {
  for (const map of [handlers, incoming, outgoing]) map.clear();
  fired.clear();
}

/** Names the app gave for its users (sendCallInvitation's invitees, init's userName). */
export function learnNames(users) {
  for (const u of users) if (u.userID && u.userName) learnUserNames({ [u.userID]: u.userName });
}

/** {userID, userName}: UIKit's ZegoUser. */
export const userOf = (userID) => ({ userID, userName: nameOf(userID) });

/** A call this kit placed or invited more people to: their answers are its callbacks. */
export function invitedBy(callID, userIDs) {
  if (!outgoing.has(callID)) outgoing.set(callID, new Set());
  for (const u of userIDs) outgoing.get(callID).add(u);
}

const typeNumber = (type) => (type === "voice" ? 0 : 1);

/** What the caller's sendCallInvitation passed as `data` (in extendedData's `data`), or "". */
function customData(extendedData) {
  try {
    const data = JSON.parse(extendedData || "{}")?.data;
    return typeof data === "string" ? data : data === undefined || data === null ? "" : JSON.stringify(data);
  } catch {
    return "";
  }
}

function once(callID, moment, userID = "") {
  const key = `${callID} ${moment} ${userID}`;
  if (fired.has(key)) return false;
  fired.add(key);
  return true;
}

const learn = (data) => learnUserNames(data?.userNames);

// ---- the callee's side -------------------------------------------------------------

/** An invitation that rings here now (after events.js showed it): announce it once. */
function received(data) {
  learn(data);
  if (!isRinging(data.callID) || incoming.has(data.callID)) return;
  const caller = data.inviter || data.caller;
  incoming.set(data.callID, { caller, done: false });
  const callees = (data.callUserList || []).filter((m) => m.userID !== data.caller).map((m) => userOf(m.userID));
  const call = store.calls.get(data.callID);
  emit("onIncomingCallReceived", data.callID, userOf(caller), typeNumber(call?.type), callees, customData(data.extendedData));
}

/** The invitation announced here is over: `moment` says how (a callback), or nothing (answered here or elsewhere). */
function incomingOver(callID, moment, ...args) {
  const invitation = incoming.get(callID);
  if (!invitation || invitation.done) return;
  invitation.done = true;
  if (moment) emit(moment, callID, userOf(invitation.caller), ...args);
}

const stillPending = (callID) => PENDING.has(store.calls.get(callID)?.members.get(ME)?.state ?? S.Inviting);

/** Before events.js: the callback first, then the dialog closes (UIKit's order). */
function beforeEvents() {
  zim.on("callInvitationCancelled", (data) => incomingOver(data.callID, "onIncomingCallCanceled", customData(data.extendedData)));
  zim.on("callInvitationTimeout", (data) => incomingOver(data.callID, "onIncomingCallTimeout"));
  zim.on("callInvitationEnded", (data) => {
    // the caller ended the call before this user answered: from here, a cancel
    if (stillPending(data.callID)) incomingOver(data.callID, "onIncomingCallCanceled", customData(data.extendedData));
  });
  zim.on("callResynced", (info) => {
    if (info.missing) return incomingOver(info.callID, null);
    const mine = info.callUserList.find((m) => m.userID === ME);
    if (mine?.state === S.Timeout) incomingOver(info.callID, "onIncomingCallTimeout");
    else if (mine?.state === S.Cancelled || (PENDING.has(mine?.state) && info.state === CallState.Ended)) {
      incomingOver(info.callID, "onIncomingCallCanceled", "");
    } else if (mine && !PENDING.has(mine.state)) incomingOver(info.callID, null);
  });
}

// ---- the caller's side --------------------------------------------------------------

/** The members of `list` this kit invited that reached an answer: the caller's callbacks. */
function answers(callID, list) {
  const mine = outgoing.get(callID);
  if (!mine) return;
  const call = store.calls.get(callID);
  const timedOut = [];
  for (const m of list) {
    if (!mine.has(m.userID)) continue;
    if (m.state === S.Accepted && once(callID, "accepted", m.userID)) {
      emit("onOutgoingCallAccepted", callID, userOf(m.userID));
    } else if (m.state === S.Rejected && once(callID, "rejected", m.userID)) {
      const name = m.reason === "busy" ? "onOutgoingCallRejectedCauseBusy" : "onOutgoingCallDeclined";
      emit(name, callID, userOf(m.userID), m.extendedData || "");
    } else if (m.state === S.Timeout && once(callID, "timeout", m.userID)) {
      timedOut.push(userOf(m.userID));
    }
  }
  if (timedOut.length) emit("onOutgoingCallTimeout", callID, timedOut, call?.type !== "voice");
}

/** After events.js: the dialog is open (received), the store knows the new states. */
function afterEvents() {
  zim.on("callInvitationReceived", received);
  zim.on("callInvitationCreated", learn);
  zim.on("callUserStateChanged", (data) => {
    learn(data);
    const me = data.callUserList.find((m) => m.userID === ME);
    if (me && !PENDING.has(me.state)) incomingOver(data.callID, null); // answered here or on another device
    answers(data.callID, data.callUserList);
  });
  zim.on("callResynced", (info) => {
    learn(info);
    if (!info.missing) answers(info.callID, info.callUserList);
  });
}

// ---- the kit's buttons ----------------------------------------------------------------

/** After the views' own click handlers (their command has left): the button callbacks. */
function buttons() {
  const answerButton = (selector, box, moment) => $(selector).addEventListener("click", () => {
    const callID = $(box).dataset.callId;
    const invitation = incoming.get(callID);
    if (!invitation || invitation.done || !isRinging(callID)) return;
    invitation.done = true;
    emit(moment);
  });
  answerButton("#incoming-accept", "#incoming", "onIncomingCallAcceptButtonPressed");
  answerButton("#call-waiting-answer", "#call-waiting", "onIncomingCallAcceptButtonPressed");
  answerButton("#incoming-reject", "#incoming", "onIncomingCallDeclineButtonPressed");
  answerButton("#incoming-busy", "#incoming", "onIncomingCallDeclineButtonPressed");
  answerButton("#call-waiting-busy", "#call-waiting", "onIncomingCallDeclineButtonPressed");
  $("#outgoing-cancel").addEventListener("click", () => {
    const call = activeCall();
    if (!call || !once(call.callID, "cancel")) return;
    const pending = invitees(call).filter((m) => PENDING.has(m.state)).map((m) => userOf(m.userID));
    emit("onOutgoingCallCancelButtonPressed", call.callID, pending, typeNumber(call.type));
  });
}

/** Calls placed on this page (the kit's sendCallInvitation, or the site page's own forms). */
function placedHere() {
  on("stage", () => {
    const call = activeCall();
    if (call && call.caller === ME && store.here.has(call.callID) && !outgoing.has(call.callID)) {
      invitedBy(call.callID, invitees(call).map((m) => m.userID));
    }
  });
}

/** Wire the callbacks around initEvents (which runs between `before` and `after`). */
export const callbackHooks = {
  before: beforeEvents,
  after: () => {
    afterEvents();
    buttons();
    placedHere();
  },
};
