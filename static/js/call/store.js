// The page's state: one ZIMClient, the server's limits, the calls this tab knows,
// and who is listening for changes. Only this module writes `store`: the actions
// below change it and notify the views that subscribed (on(topic, fn)). Nothing
// here touches the DOM; the kit (static/js/kit/kit.js) hands over the client, the user and
// the limits (initStore).
import { CallUserState as S, CallState } from "../zimclient.js";

/** The signed-in user's id (initStore). */
export let ME = "";

/** The server's limits, rendered by the call page view (invitations/web/pages.py) (initStore). */
export let LIMITS = Object.freeze({ maxParticipants: 0, maxInvitees: 0, minTimeout: 0, maxTimeout: 0, defaultTimeout: 0 });

/** The page's ZIMClient (initStore). */
export let zim = null;

/** Called once, before any other part: the client, who is signed in, and the server's limits. */
export function initStore({ client, user, maxParticipants, minTimeout, maxTimeout, defaultTimeout }) {
  zim = client;
  ME = user;
  LIMITS = Object.freeze({ maxParticipants, maxInvitees: maxParticipants - 1, minTimeout, maxTimeout, defaultTimeout });
}

export const PENDING = new Set([S.Inviting, S.Received, S.NotYetReceived]);

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
  /** the group the picked people were chosen from (the call is placed in it), or null */
  pickedGroup: null,
  /** invitations dismissed in this tab: they stop ringing here and keep ringing elsewhere */
  dismissed: new Set(),
  /** the user's groups [{groupID, name, memberCount, members}], and groupID -> its Started calls (CallInfo) */
  groups: [],
  groupCalls: new Map(),
  /** userID -> display name: PROTOCOL's userNames (an app's own names for its users) and the people list's */
  names: new Map(),
};

/** What the page shows for a user: the display name the server gave, else the userID. */
export const nameOf = (userID) => store.names.get(userID) || userID;

/** Keep display names ({userID: name}, as PROTOCOL's userNames); an empty name is no name. */
export function learnNames(userNames) {
  for (const [userID, name] of Object.entries(userNames || {})) if (name) store.names.set(userID, name);
}

/** Forget every call, invitation and person (the kit is destroyed; another user may sign in). */
export function resetStore() {
  for (const key of ["calls", "users", "groupCalls", "names"]) store[key].clear();
  for (const key of ["here", "picked", "dismissed"]) store[key].clear();
  Object.assign(store, { activeID: null, ringing: [], pickedGroup: null, groups: [] });
  for (const topic of ["stage", "ringing", "users", "picked", "groups"]) changed(topic);
}

// ---- change notification by topic: "stage" (the active call or its members), "users"
// (the people list), "picked" (whom the call form calls), "groups" (groups and their calls),
// "ringing" (the invitations ringing here), "media" and "levels" (media/), "hangup" (this
// user leaves the call on the stage) ----

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

/** Add or update a call from the server's data; extra: {replace: the member list is whole,
 * fields: more to set}. Call writes notify nobody: the event handler renders once after. */
export function upsertCall(data, extra = {}) {
  let call = store.calls.get(data.callID);
  if (!call) {
    call = { callID: data.callID, members: new Map(), seq: 0, state: CallState.Started, connectedAt: null };
    store.calls.set(data.callID, call);
  }
  learnNames(data.userNames);
  if (data.caller) call.caller = data.caller;
  if (data.inviter) call.inviter = data.inviter;
  if (data.mode !== undefined) call.mode = data.mode;
  if (data.extendedData !== undefined && data.caller) call.type = callType(data.extendedData);
  if (data.state !== undefined) call.state = data.state;
  if (data.groupID !== undefined) call.groupID = data.groupID;
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

// ---- actions on calls --------------------------------------------------------------

/** Set some of a call's own fields (endedBy, localLive, closing...). */
export function updateCall(call, fields) {
  Object.assign(call, fields);
  return call;
}

/** One member's new state (kept: the state before, which says whether they were in the call). */
export function memberChanged(call, userID, { state, reason = "" }) {
  const member = call.members.get(userID);
  if (!member) return;
  member.before = member.state;
  member.state = state;
  member.reason = reason;
}

/** A call this tab placed rings out: it is on the stage, the call form is empty again. */
export function callPlaced(callID) {
  store.here.add(callID);
  store.activeID = callID;
  clearPicked();
  changed("stage");
}

/** This tab is in `call` now (accepted, joined, restored or merged by glare): show it on the stage. */
export function enterCall(call) {
  store.here.add(call.callID);
  store.activeID = call.callID;
  const me = call.members.get(ME);
  if (me) me.state = S.Accepted;
  else call.members.set(ME, { userID: ME, state: S.Accepted, reason: "" });
  if (!call.connectedAt) call.connectedAt = Date.now();
  changed("stage");
}

/** A call reloaded with the page (its members as the server said; no state change of mine). */
export function restoreCall(callID) {
  store.here.add(callID);
  store.activeID = callID;
  changed("stage");
}

/** This tab is not in callID any more (the stage shows nothing, unless it shows another call). */
export function leave(callID) {
  if (store.activeID === callID) store.activeID = null;
  store.here.delete(callID);
  changed("stage");
}

// ---- actions on ringing ------------------------------------------------------------

export const isRinging = (callID) => store.ringing.includes(callID);

/** Ring for an invitation (unless it rings already or was dismissed here); first: shown first. */
export function ring(callID, { first = false } = {}) {
  if (isRinging(callID) || store.dismissed.has(callID)) return false;
  store.ringing.push(callID);
  if (first) bringForward(callID, { quiet: true });
  changed("ringing");
  return true;
}

/** Put callID first in the ringing queue, so the dialog shows it. */
export function bringForward(callID, { quiet = false } = {}) {
  const i = store.ringing.indexOf(callID);
  if (i > 0) store.ringing.unshift(...store.ringing.splice(i, 1));
  if (!quiet) changed("ringing");
}

export function stopRinging(callID) {
  const i = store.ringing.indexOf(callID);
  if (i >= 0) store.ringing.splice(i, 1);
  changed("ringing");
}

/** Stop ringing here only: the invitation stays open on the user's other tabs and devices. */
export function dismiss(callID) {
  store.dismissed.add(callID);
  stopRinging(callID);
}

// ---- actions on people and groups --------------------------------------------------

/** The people list, as the server answered the search. */
export function setUsers(list) {
  store.users.clear();
  for (const u of list) {
    store.users.set(u.userID, u);
    if (u.name) store.names.set(u.userID, u.name);
  }
  changed("users");
}

/** Someone came online or went offline: in the people list and in the groups. */
export function presenceChanged(userID, online) {
  const user = store.users.get(userID);
  if (user) user.online = online;
  let inGroups = false;
  for (const g of store.groups) {
    for (const m of g.members) if (m.userID === userID) { m.online = online; inGroups = true; }
  }
  if (user) changed("users");
  if (inGroups) changed("groups");
  return Boolean(user);
}

/** Pick (or unpick) people for the next call. */
export function pick(userIDs, picked = true) {
  for (const u of userIDs) {
    if (picked) store.picked.add(u); else store.picked.delete(u);
  }
  changed("picked");
}

/** Pick from a group's members only (null: from everyone); those not in it are unpicked. */
export function pickFromGroup(group) {
  store.pickedGroup = group ? group.groupID : null;
  if (group) {
    const members = new Set(group.members.map((m) => m.userID));
    for (const u of [...store.picked]) if (!members.has(u)) store.picked.delete(u);
  }
  changed("picked");
}

export function clearPicked() {
  store.picked.clear();
  store.pickedGroup = null;
  changed("picked");
}

export function setGroups(groupList) {
  store.groups = groupList;
  changed("groups");
}

/** groupID -> the group's Started calls (CallInfo). */
export function setGroupCalls(entries) {
  store.groupCalls = new Map(entries);
  for (const [, calls] of entries) for (const info of calls) learnNames(info.userNames);
  changed("groups");
}
