// The page's state: one ZIMClient, the server's limits, the calls this tab knows,
// and who is listening for changes. Views subscribe; nothing here touches the DOM
// except reading the limits the server rendered on #app.
import { ZIMClient, CallUserState as S, CallState } from "../zimclient.js";

const root = document.querySelector("#app");

export const ME = root.dataset.user;

/** The server's limits, rendered by the call page view (invitations/views.py). */
export const LIMITS = Object.freeze({
  maxParticipants: Number(root.dataset.maxParticipants),
  maxInvitees: Number(root.dataset.maxParticipants) - 1,
  minTimeout: Number(root.dataset.minTimeout),
  maxTimeout: Number(root.dataset.maxTimeout),
  defaultTimeout: Number(root.dataset.defaultTimeout),
});

export const PENDING = new Set([S.Inviting, S.Received, S.NotYetReceived]);

export const zim = new ZIMClient();

export const store = {
  /** callID -> {callID, caller, inviter, mode, state, type, members: Map, seq, deadline, connectedAt, endedBy} */
  calls: new Map(),
  /** calls placed, accepted or joined in this tab */
  here: new Set(),
  /** the call shown on the stage (outgoing or in call), or null */
  activeID: null,
  /** invitations ringing in this tab, oldest first */
  ringing: [],
  /** userID -> {userID, name, online} */
  users: new Map(),
  /** people picked for a new call */
  picked: new Set(),
};

// ---- change notification: "stage" (the active call or its members), "users" ----

const listeners = new Map();

/** on("stage", fn): fn() after every change of that topic. */
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
}

export function changed(topic = "stage") {
  for (const fn of listeners.get(topic) || []) fn();
}

// ---- calls ---------------------------------------------------------------------

export function callType(extendedData) {
  try {
    const parsed = JSON.parse(extendedData || "{}");
    return parsed && parsed.type === "voice" ? "voice" : "video";
  } catch {
    return "video";
  }
}

export function upsertCall(data, extra = {}) {
  let call = store.calls.get(data.callID);
  if (!call) {
    call = { callID: data.callID, members: new Map(), seq: 0, state: CallState.Started, connectedAt: null };
    store.calls.set(data.callID, call);
  }
  if (data.caller) call.caller = data.caller;
  if (data.inviter) call.inviter = data.inviter;
  if (data.mode !== undefined) call.mode = data.mode;
  if (data.extendedData !== undefined && data.caller) call.type = callType(data.extendedData);
  if (data.state !== undefined) call.state = data.state;
  if (data.callUserList) mergeMembers(call, data.callUserList, Boolean(extra.replace));
  Object.assign(call, extra.fields || {});
  return call;
}

export function mergeMembers(call, list, replace) {
  if (replace) call.members.clear();
  for (const m of list) {
    const before = call.members.get(m.userID);
    call.members.set(m.userID, { userID: m.userID, state: m.state, reason: m.reason || "", before: before?.state });
  }
  // the call is "connected" once someone other than the caller accepted
  if (!call.connectedAt && [...call.members.values()].some((m) => m.userID !== call.caller && m.state === S.Accepted)) {
    call.connectedAt = Date.now();
  }
}

export const activeCall = () => (store.activeID && store.calls.get(store.activeID)) || null;
export const myState = (call) => call.members.get(ME)?.state;
export const invitees = (call) => [...call.members.values()].filter((m) => m.userID !== call.caller);
export const othersOf = (call) => [...call.members.values()].filter((m) => m.userID !== ME);
/** Members Accepted or still pending: those who count against the participant limit. */
export const seatsTaken = (call) => [...call.members.values()].filter((m) => m.state === S.Accepted || PENDING.has(m.state)).length;

/** In a call right now (for busy): a call on the stage that I am part of. */
export function inCall() {
  const call = activeCall();
  return Boolean(call && (call.state === CallState.Started || call.localLive));
}

/** Which view the stage shows. */
export function stageOf(call) {
  if (!call) return "idle";
  return call.caller === ME && !call.connectedAt && call.state === CallState.Started ? "outgoing" : "incall";
}
