// The call page. It talks to the server only through ZIMClient.
import { ZIMClient, CallUserState as S, CallState, CallMode } from "./zimclient.js";
import { Ringtone } from "./ringtone.js";

const $ = (sel) => document.querySelector(sel);
const root = $("#app");
const ME = root.dataset.user;
const MAX_INVITEES = 9;
const PENDING = new Set([S.Inviting, S.Received, S.NotYetReceived]);

const STATE_TEXT = {
  [S.Unknown]: "Unknown", [S.Inviting]: "Calling…", [S.Accepted]: "In call", [S.Rejected]: "Declined",
  [S.Cancelled]: "Cancelled", [S.Received]: "Ringing", [S.Timeout]: "No answer", [S.Quit]: "Left",
  [S.NotYetReceived]: "May be offline",
};
const STATE_CLASS = {
  [S.Inviting]: "pending", [S.Received]: "pending", [S.NotYetReceived]: "warn", [S.Accepted]: "ok",
  [S.Rejected]: "bad", [S.Cancelled]: "muted", [S.Timeout]: "bad", [S.Quit]: "muted", [S.Unknown]: "muted",
};

function stateLabel(member) {
  if (member.state === S.Rejected && member.reason === "busy") return "Busy";
  if (member.state === S.Cancelled && member.reason === "caller_offline") return "Cancelled (caller offline)";
  return STATE_TEXT[member.state] ?? String(member.state);
}

function callType(extendedData) {
  try {
    const parsed = JSON.parse(extendedData || "{}");
    return parsed && parsed.type === "voice" ? "voice" : "video";
  } catch {
    return "video";
  }
}

const kindText = (type) => (type === "voice" ? "voice" : "video");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

const initials = (name) => (name || "?").slice(0, 2).toUpperCase();

function avatar(userID) {
  // a stable colour per user
  let hash = 0;
  for (const ch of userID) hash = (hash * 31 + ch.charCodeAt(0)) % 360;
  return el("span", { class: "avatar", style: `--hue:${hash}`, "aria-hidden": "true" }, initials(userID));
}

// ---- state ---------------------------------------------------------------

const zim = new ZIMClient();
const ringtone = new Ringtone();
const settings = {
  get autoBusy() { return localStorage.getItem("call.autoBusy") === "1"; },
  set autoBusy(v) { localStorage.setItem("call.autoBusy", v ? "1" : "0"); },
  get muted() { return localStorage.getItem("call.muted") === "1"; },
  set muted(v) { localStorage.setItem("call.muted", v ? "1" : "0"); },
};

/** callID -> {callID, caller, inviter, mode, state, type, members: Map, seq, deadline, connectedAt, endedBy} */
const calls = new Map();
/** calls placed, accepted or joined in this tab */
const here = new Set();
/** the call shown on the stage (outgoing or in call), or null */
let activeID = null;
/** invitations ringing in this tab, oldest first */
const ringing = [];
const users = new Map(); // userID -> {userID, name, online}
const picked = new Set();
let missed = loadMissed();
let timerHandle = null;
let countdownHandle = null;

function upsertCall(data, extra = {}) {
  let call = calls.get(data.callID);
  if (!call) {
    call = { callID: data.callID, members: new Map(), seq: 0, state: CallState.Started, connectedAt: null };
    calls.set(data.callID, call);
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

function mergeMembers(call, list, replace) {
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

const myState = (call) => call.members.get(ME)?.state;
const invitees = (call) => [...call.members.values()].filter((m) => m.userID !== call.caller);
const othersOf = (call) => [...call.members.values()].filter((m) => m.userID !== ME);

/** In a call right now (for busy): a call on the stage that I am part of. */
function inCall() {
  const call = activeID && calls.get(activeID);
  return Boolean(call && (call.state === CallState.Started || call.localLive));
}

// ---- connection ------------------------------------------------------------

const connPill = $("#conn-state");
const retryBtn = $("#conn-retry");
let retryTick = null;

zim.on("connectionStateChanged", ({ state, delay, reason }) => {
  clearInterval(retryTick);
  connPill.dataset.state = state;
  retryBtn.hidden = state !== "reconnecting";
  document.body.dataset.conn = state;
  if (state === "connected") {
    connPill.textContent = "Connected";
    refreshUsers();
    restoreAfterReload();
  } else if (state === "reconnecting" && delay) {
    const until = Date.now() + delay;
    const show = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      connPill.textContent = left ? `Connection lost · reconnecting in ${left}s` : "Reconnecting…";
    };
    show();
    retryTick = setInterval(show, 500);
  } else if (state === "reconnecting" || state === "connecting") {
    connPill.textContent = state === "connecting" ? "Connecting…" : "Reconnecting…";
  } else {
    connPill.textContent = reason === "unauthenticated" ? "Signed out · reload the page" : "Offline";
  }
  $("#call-start").disabled = state !== "connected" || picked.size === 0;
});
retryBtn.addEventListener("click", () => zim.retryNow());

/** A reload keeps the tab's call: sessionStorage remembers it, queryCall brings it back. */
const restoring = { callID: sessionStorage.getItem("call.active"), connectedAt: Number(sessionStorage.getItem("call.connectedAt")) };

async function restoreAfterReload() {
  const callID = restoring.callID;
  restoring.callID = null; // once
  if (!callID || activeID) return;
  try {
    const info = await zim.queryCall(callID);
    const mine = info.callUserList.find((m) => m.userID === ME)?.state;
    const ringingOut = info.caller === ME && info.callUserList.some((m) => PENDING.has(m.state));
    if (info.state !== CallState.Started || !(mine === S.Accepted || ringingOut) || activeID) {
      return;
    }
    const call = upsertCall(info, { replace: true });
    call.type = callType(info.extendedData);
    call.connectedAt = restoring.connectedAt || call.connectedAt;
    here.add(callID);
    zim.hold(callID, info.seq);
    activeID = callID;
    render();
  } catch {
    // gone: nothing to restore
  }
}

// ---- people ------------------------------------------------------------------

const userList = $("#user-list");
let searchSeq = 0;

async function refreshUsers() {
  const mine = ++searchSeq;
  try {
    const { users: list } = await zim.queryUsers($("#user-search").value.trim(), 100);
    if (mine !== searchSeq) return;
    users.clear();
    for (const u of list) users.set(u.userID, u);
    renderUsers();
  } catch (err) {
    console.warn("queryUsers", err);
  }
}

function sortedUsers() {
  return [...users.values()].sort((a, b) => (b.online - a.online) || a.userID.localeCompare(b.userID));
}

function userRow(u, { selected, disabled, name, onchange }) {
  const id = `${name}-${u.userID}`;
  return el("li", { class: "user", dataset: { user: u.userID, online: u.online ? "1" : "0" } },
    el("input", { type: "checkbox", id, checked: selected, disabled: disabled && !selected, onchange }),
    el("label", { for: id },
      avatar(u.userID),
      el("span", { class: "who" }, el("span", { class: "name" }, u.name || u.userID),
        u.name && u.name !== u.userID ? el("span", { class: "muted small" }, ` @${u.userID}`) : null),
      el("span", { class: `presence ${u.online ? "on" : "off"}` }, u.online ? "Online" : "Offline")));
}

function renderUsers() {
  const full = picked.size >= MAX_INVITEES;
  userList.replaceChildren(...sortedUsers().map((u) => userRow(u, {
    selected: picked.has(u.userID), disabled: full, name: "pick",
    onchange: (ev) => {
      if (ev.target.checked) picked.add(u.userID); else picked.delete(u.userID);
      renderUsers();
      // keep focus on the same box after the re-render (keyboard users)
      document.getElementById(`pick-${u.userID}`)?.focus();
    },
  })));
  $("#user-empty").hidden = users.size > 0;
  $("#pick-count").textContent = `${picked.size} / ${MAX_INVITEES} selected`;
  const start = $("#call-start");
  start.disabled = picked.size === 0 || zim.state !== "connected";
  start.textContent = picked.size ? `Call ${[...picked].join(", ")}` : "Call";
}

let searchTimer = null;
$("#user-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(refreshUsers, 200);
});

zim.on("userPresenceChanged", ({ userID, online }) => {
  const u = users.get(userID);
  if (u) {
    u.online = online;
    renderUsers();
    if ($("#invite-dialog").open) renderInviteList();
  } else if (online) {
    refreshUsers();
  }
});

// ---- placing a call ----------------------------------------------------------

$("#call-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!picked.size) return;
  const type = new FormData(ev.target).get("type") || "video";
  await placeCall([...picked], {
    type,
    mode: Number($("#call-mode").value),
    timeout: Number($("#call-timeout").value),
  }, $("#call-error"));
});

async function placeCall(list, { type, mode, timeout }, errorBox) {
  errorBox.hidden = true;
  if (activeID && inCall()) {
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
    here.add(result.callID);
    activeID = result.callID;
    for (const e of result.errorInvitees) toast(`${e.userID} was not invited (${e.reason.replaceAll("_", " ")})`, "warn");
    picked.clear();
    renderUsers();
    render();
    checkCallerOutcome(call);
    return true;
  } catch (err) {
    showError(errorBox, errorText(err));
    return false;
  }
}

function errorText(err) {
  const texts = {
    already_in_call: "You are already in a call.",
    no_invitee_registered: "None of these people exists.",
    too_many_participants: "At most 10 people in one call.",
    invalid_argument: err.message,
    disconnected: "Not connected. Wait for the connection to come back.",
  };
  return texts[err.reason] || err.message || err.reason;
}

function showError(box, text) {
  box.textContent = text;
  box.hidden = false;
}

// ---- events --------------------------------------------------------------------

zim.on("callInvitationCreated", (data, frame) => {
  // every tab of the caller hears it; only the tab that placed the call shows it
  upsertCall(data, { fields: { seq: frame.seq } });
  render();
});

zim.on("callInvitationReceived", (data, frame) => {
  const call = upsertCall(data, { fields: { seq: frame.seq, deadline: data.deadline, pushConfig: data.pushConfig } });
  call.type = callType(data.extendedData);
  if (ringing.includes(call.callID) || here.has(call.callID)) return;
  if (!PENDING.has(myState(call) ?? S.Inviting)) return;
  if (inCall() && settings.autoBusy) {
    zim.callReject(call.callID, { reason: "busy" }).catch(() => {});
    toast(`Rejected ${call.inviter || call.caller} as busy (auto)`, "warn");
    return;
  }
  ringing.push(call.callID);
  renderIncoming();
  notify(call);
});

zim.on("callUserStateChanged", (data) => {
  const call = upsertCall(data);
  const mine = data.callUserList.find((m) => m.userID === ME);
  if (mine && ringing.includes(call.callID) && !PENDING.has(mine.state)) {
    // answered (or rejected) on another tab or device
    stopRinging(call.callID);
    if (!here.has(call.callID)) {
      const verb = mine.state === S.Accepted ? "Answered" : mine.state === S.Rejected ? "Declined" : "Handled";
      toast(`${verb} on another tab or device`, "info");
    }
  }
  if (mine && call.callID === activeID && here.has(call.callID) && mine.state === S.Quit) {
    // left from another tab
    leaveStage(call.callID, "You left the call");
    return;
  }
  render();
  checkCallerOutcome(call);
});

zim.on("callInvitationCancelled", (data) => {
  const call = upsertCall(data);
  const wasRinging = ringing.includes(call.callID);
  stopRinging(call.callID);
  const reason = call.members.get(ME)?.reason;
  if (wasRinging || !here.has(call.callID)) addMissed(call, reason === "caller_offline" ? "caller went offline" : "cancelled");
  zim.forget(call.callID);
  render();
});

zim.on("callInvitationTimeout", (data) => {
  const call = upsertCall(data);
  const member = call.members.get(ME);
  if (member) member.state = S.Timeout;
  stopRinging(call.callID);
  addMissed(call, "no answer");
  render();
});

zim.on("callInvitationEnded", (data) => {
  const call = upsertCall(data, { fields: { state: CallState.Ended, endedBy: data.operatedUserID } });
  if (ringing.includes(call.callID)) {
    stopRinging(call.callID);
    if (myState(call) !== S.Accepted) addMissed(call, "ended");
  }
  onCallEnded(call);
});

zim.on("callResynced", (info) => {
  if (info.missing) {
    stopRinging(info.callID);
    if (activeID === info.callID) leaveStage(info.callID, "The call is gone");
    return;
  }
  const call = upsertCall(info, { replace: true });
  call.state = info.state;
  call.type = callType(info.extendedData);
  const mine = myState(call);
  if (ringing.includes(call.callID) && (!PENDING.has(mine) || call.state === CallState.Ended)) {
    stopRinging(call.callID);
    if (mine === S.Timeout || mine === S.Cancelled) addMissed(call, mine === S.Timeout ? "no answer" : "cancelled");
  }
  if (call.state === CallState.Ended) onCallEnded(call);
  else {
    render();
    checkCallerOutcome(call);
  }
});

function onCallEnded(call) {
  zim.forget(call.callID);
  if (call.callID !== activeID) {
    render();
    return;
  }
  if (call.mode === CallMode.General && call.connectedAt && myState(call) === S.Accepted) {
    // general mode: the invitation is over once everyone answered, the call itself
    // goes on until this user hangs up
    call.localLive = true;
    render();
    return;
  }
  const by = call.endedBy && call.endedBy !== ME ? ` by ${call.endedBy}` : "";
  leaveStage(call.callID, call.connectedAt ? `Call ended${by}` : `Nobody answered (${outcome(call)})`);
}

/** "bob: declined, carol: no answer" */
function outcome(call) {
  return invitees(call).map((m) => `${m.userID}: ${stateLabel(m).toLowerCase()}`).join(", ");
}

/** A caller's call that nobody can answer any more: close it (advanced mode would live on). */
function checkCallerOutcome(call) {
  if (!here.has(call.callID) || call.caller !== ME || call.state !== CallState.Started) return;
  const list = invitees(call);
  if (!list.length || list.some((m) => PENDING.has(m.state) || m.state === S.Accepted)) return;
  if (call.mode === CallMode.Advanced && !call.connectedAt && !call.closing) {
    call.closing = true;
    zim.callEnd(call.callID).catch(() => {});
    leaveStage(call.callID, `Nobody answered (${outcome(call)})`);
  }
}

function leaveStage(callID, message) {
  if (activeID === callID) activeID = null;
  here.delete(callID);
  if (message) toast(message, "info");
  render();
}

// ---- incoming dialog -------------------------------------------------------------

const incoming = $("#incoming");

function renderIncoming() {
  const callID = ringing[0];
  clearInterval(countdownHandle);
  if (!callID) {
    ringtone.stop();
    document.body.dataset.ringing = "false";
    if (incoming.open) incoming.close();
    return;
  }
  const call = calls.get(callID);
  const from = call.inviter || call.caller;
  $("#incoming-caller").textContent = from;
  $("#incoming-avatar").textContent = initials(from);
  $("#incoming-kind").textContent = `Incoming ${kindText(call.type)} call`;
  const others = othersOf(call).filter((m) => m.userID !== from).map((m) => m.userID);
  $("#incoming-detail").textContent = others.length ? `With ${others.join(", ")}` : "Only you are invited";
  $("#incoming-busy").hidden = !inCall();
  $("#incoming-more").hidden = ringing.length < 2;
  $("#incoming-more").textContent = `${ringing.length - 1} more call(s) waiting`;
  incoming.dataset.callId = callID;
  const tick = () => {
    const left = Math.ceil(((call.deadline || 0) - zim.serverNow()) / 1000);
    $("#incoming-countdown").textContent = left > 0 ? `Rings for ${left} more second${left === 1 ? "" : "s"}` : "";
    if (call.deadline && left <= 0) stopRinging(callID); // the server's timeout event follows
  };
  tick();
  countdownHandle = setInterval(tick, 1000);
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

function stopRinging(callID) {
  const i = ringing.indexOf(callID);
  if (i >= 0) ringing.splice(i, 1);
  renderIncoming();
}

incoming.addEventListener("cancel", (ev) => ev.preventDefault()); // Escape must not silently drop a call

async function answer(action) {
  const callID = ringing[0];
  if (!callID) return;
  const call = calls.get(callID);
  for (const b of incoming.querySelectorAll("button")) b.disabled = true;
  try {
    if (action === "accept") {
      if (activeID && activeID !== callID && inCall()) await hangUpActive();
      await zim.callAccept(callID);
      here.add(callID);
      activeID = callID;
      const me = call.members.get(ME);
      if (me) me.state = S.Accepted;
      if (!call.connectedAt) call.connectedAt = Date.now();
    } else {
      await zim.callReject(callID, { reason: action === "busy" ? "busy" : "declined" });
    }
  } catch (err) {
    toast(`Could not ${action === "accept" ? "accept" : "reject"}: ${errorText(err)}`, "bad");
  } finally {
    for (const b of incoming.querySelectorAll("button")) b.disabled = false;
    stopRinging(callID);
    render();
  }
}

$("#incoming-accept").addEventListener("click", () => answer("accept"));
$("#incoming-reject").addEventListener("click", () => answer("reject"));
$("#incoming-busy").addEventListener("click", () => answer("busy"));
$("#incoming-mute").addEventListener("click", () => {
  settings.muted = !settings.muted;
  $("#ring-muted").checked = settings.muted;
  ringtone.muted = settings.muted;
  renderIncoming();
});

function notify(call) {
  if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
  const from = call.inviter || call.caller;
  const title = call.pushConfig?.title || `Incoming ${kindText(call.type)} call`;
  const body = call.pushConfig?.content || `${from} is calling you`;
  const n = new Notification(title, { body, tag: call.callID, requireInteraction: true });
  n.onclick = () => { window.focus(); n.close(); };
  const stop = () => { if (!ringing.includes(call.callID)) n.close(); };
  const watcher = setInterval(() => { stop(); if (!ringing.includes(call.callID)) clearInterval(watcher); }, 1000);
}

// ---- the stage: outgoing and in call ------------------------------------------------

function memberItem(m, call) {
  const cls = STATE_CLASS[m.state] || "muted";
  const role = m.userID === call.caller ? "caller" : m.userID === ME ? "you" : "";
  return el("li", { class: "member", dataset: { member: m.userID, state: String(m.state) } },
    avatar(m.userID),
    el("span", { class: "who" }, el("span", { class: "name" }, m.userID === ME ? `${m.userID} (you)` : m.userID),
      role && role !== "you" ? el("span", { class: "muted small" }, ` ${role}`) : null),
    el("span", { class: `badge ${cls}` }, stateLabel(m)));
}

function render() {
  const call = activeID && calls.get(activeID);
  if (call) {
    sessionStorage.setItem("call.active", call.callID);
    sessionStorage.setItem("call.connectedAt", String(call.connectedAt || ""));
  } else {
    sessionStorage.removeItem("call.active");
  }
  const showCall = Boolean(call);
  const outgoing = showCall && call.caller === ME && !call.connectedAt && call.state === CallState.Started;
  $("#idle").hidden = showCall;
  $("#outgoing").hidden = !outgoing;
  $("#incall").hidden = !showCall || outgoing;
  document.body.dataset.stage = !showCall ? "idle" : outgoing ? "outgoing" : "incall";
  clearInterval(timerHandle);
  if (!showCall) return;
  const kind = kindText(call.type);
  if (outgoing) {
    const list = invitees(call);
    $("#outgoing-kind").textContent = `Outgoing ${kind} call · ${call.mode === CallMode.Advanced ? "advanced" : "general"} mode`;
    $("#outgoing-title").textContent = `Calling ${list.map((m) => m.userID).join(", ")}`;
    $("#outgoing-members").replaceChildren(...list.map((m) => memberItem(m, call)));
    $("#outgoing-cancel").disabled = !list.some((m) => PENDING.has(m.state));
    return;
  }
  const advanced = call.mode === CallMode.Advanced;
  const live = call.state === CallState.Started;
  $("#incall-kind").textContent = `${kind[0].toUpperCase()}${kind.slice(1)} call · ${advanced ? "advanced" : "general"} mode`;
  $("#incall-title").textContent = `In call with ${othersOf(call).filter((m) => m.state === S.Accepted).map((m) => m.userID).join(", ") || "nobody yet"}`;
  $("#incall-members").replaceChildren(...[...call.members.values()].map((m) => memberItem(m, call)));
  const canAct = advanced && live && myState(call) === S.Accepted;
  $("#incall-invite").hidden = !advanced;
  $("#incall-quit").hidden = !advanced;
  $("#incall-end").hidden = !advanced;
  $("#incall-invite").disabled = !canAct || call.members.size >= 10;
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
  timerHandle = setInterval(tick, 1000);
}

$("#outgoing-cancel").addEventListener("click", async () => {
  const call = calls.get(activeID);
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

async function hangUpActive() {
  const call = calls.get(activeID);
  if (!call) return;
  if (call.mode === CallMode.Advanced && call.state === CallState.Started) await zim.callQuit(call.callID).catch(() => {});
  leaveStage(call.callID, "");
}

$("#incall-quit").addEventListener("click", async () => {
  const call = calls.get(activeID);
  try {
    await zim.callQuit(call.callID);
    leaveStage(call.callID, "You left the call");
  } catch (err) {
    toast(`Could not leave: ${errorText(err)}`, "bad");
  }
});

$("#incall-end").addEventListener("click", async () => {
  const call = calls.get(activeID);
  try {
    await zim.callEnd(call.callID);
    call.endedBy = ME;
    leaveStage(call.callID, "Call ended for everyone");
  } catch (err) {
    toast(`Could not end: ${errorText(err)}`, "bad");
  }
});

$("#incall-hangup").addEventListener("click", () => {
  const call = calls.get(activeID);
  if (call) leaveStage(call.callID, "Hung up");
});

// ---- invite more (advanced) -------------------------------------------------------------

const inviteDialog = $("#invite-dialog");
const invitePicked = new Set();

function renderInviteList() {
  const call = calls.get(activeID);
  if (!call) return;
  const busyHere = (u) => {
    const m = call.members.get(u.userID);
    return m && (m.state === S.Accepted || PENDING.has(m.state));
  };
  const room = 10 - [...call.members.values()].filter((m) => m.state === S.Accepted || PENDING.has(m.state)).length;
  const full = invitePicked.size >= room;
  const needle = $("#invite-search").value.trim().toLowerCase();
  const list = sortedUsers().filter((u) => !busyHere(u) && (!needle || u.userID.toLowerCase().includes(needle)
    || (u.name || "").toLowerCase().includes(needle)));
  $("#invite-list").replaceChildren(...list.map((u) => userRow(u, {
    selected: invitePicked.has(u.userID), disabled: full, name: "invite",
    onchange: (ev) => {
      if (ev.target.checked) invitePicked.add(u.userID); else invitePicked.delete(u.userID);
      renderInviteList();
      document.getElementById(`invite-${u.userID}`)?.focus();
    },
  })));
  if (!list.length) $("#invite-list").append(el("li", { class: "muted small" }, "Everyone is already in the call."));
  $("#invite-send").disabled = invitePicked.size === 0;
  $("#invite-send").textContent = invitePicked.size ? `Invite ${[...invitePicked].join(", ")}` : "Invite";
}

$("#incall-invite").addEventListener("click", () => {
  invitePicked.clear();
  $("#invite-search").value = "";
  $("#invite-error").hidden = true;
  renderInviteList();
  inviteDialog.showModal();
  $("#invite-search").focus();
});
$("#invite-search").addEventListener("input", renderInviteList);
$("#invite-close").addEventListener("click", () => inviteDialog.close());
$("#invite-send").addEventListener("click", async () => {
  const call = calls.get(activeID);
  if (!call || !invitePicked.size) return;
  try {
    const result = await zim.callingInvite([...invitePicked], call.callID, { timeout: Number($("#call-timeout").value) });
    for (const e of result.errorInvitees) toast(`${e.userID} was not invited (${e.reason.replaceAll("_", " ")})`, "warn");
    inviteDialog.close();
  } catch (err) {
    showError($("#invite-error"), errorText(err));
  }
});

// ---- missed calls ---------------------------------------------------------------------

function loadMissed() {
  try {
    return JSON.parse(localStorage.getItem(`call.missed.${ME}`) || "[]");
  } catch {
    return [];
  }
}

function saveMissed() {
  localStorage.setItem(`call.missed.${ME}`, JSON.stringify(missed.slice(0, 20)));
}

function addMissed(call, why) {
  if (missed.some((m) => m.callID === call.callID)) return;
  missed.unshift({ callID: call.callID, from: call.inviter || call.caller, type: call.type || "video", why, at: Date.now() });
  saveMissed();
  renderMissed();
  toast(`Missed ${kindText(call.type)} call from ${call.inviter || call.caller}`, "warn");
}

function renderMissed() {
  const list = $("#missed-list");
  list.replaceChildren(...missed.map((m) => el("li", { class: "missed-item", dataset: { caller: m.from, callId: m.callID } },
    avatar(m.from),
    el("span", { class: "who" },
      el("span", { class: "name" }, m.from),
      el("span", { class: "muted small" }, `${kindText(m.type)} · ${m.why} · ${new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`)),
    el("button", {
      type: "button", class: "btn small success", "aria-label": `Call ${m.from} back`,
      onclick: async (ev) => {
        ev.target.disabled = true;
        const ok = await placeCall([m.from], { type: m.type, mode: CallMode.Advanced, timeout: Number($("#call-timeout").value) }, $("#call-error"));
        if (ok) { missed = missed.filter((x) => x !== m); saveMissed(); renderMissed(); }
        ev.target.disabled = false;
      },
    }, "Call back"),
    el("button", {
      type: "button", class: "link small", "aria-label": `Dismiss the missed call from ${m.from}`,
      onclick: () => { missed = missed.filter((x) => x !== m); saveMissed(); renderMissed(); },
    }, "Dismiss"))));
  $("#missed-empty").hidden = missed.length > 0;
  $("#missed-clear").hidden = missed.length === 0;
}

$("#missed-clear").addEventListener("click", () => { missed = []; saveMissed(); renderMissed(); });

// ---- toasts, settings -----------------------------------------------------------------

function toast(text, kind = "info") {
  const node = el("div", { class: `toast ${kind}` }, text);
  $("#toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

$("#auto-busy").checked = settings.autoBusy;
$("#auto-busy").addEventListener("change", (ev) => { settings.autoBusy = ev.target.checked; });
$("#ring-muted").checked = settings.muted;
$("#ring-muted").addEventListener("change", (ev) => {
  settings.muted = ev.target.checked;
  ringtone.muted = settings.muted;
});

function renderNotifyState() {
  const box = $("#notify-state");
  const btn = $("#notify-allow");
  if (!("Notification" in window)) {
    box.textContent = "This browser has no notifications.";
    btn.hidden = true;
  } else if (Notification.permission === "granted") {
    box.textContent = "Notifications are on: an incoming call is announced while this tab is hidden.";
    btn.hidden = true;
  } else if (Notification.permission === "denied") {
    box.textContent = "Notifications are blocked for this site (browser settings).";
    btn.hidden = true;
  } else {
    box.textContent = "Allow notifications to hear about calls while this tab is hidden.";
    btn.hidden = false;
  }
}
$("#notify-allow").addEventListener("click", async () => {
  await Notification.requestPermission();
  renderNotifyState();
});

// the browser lets a page make sound only after a user gesture
for (const type of ["pointerdown", "keydown"]) {
  window.addEventListener(type, () => ringtone.unlock(), { capture: true, passive: true });
}

renderNotifyState();
renderUsers();
renderMissed();
render();
zim.connect();
window.zimClient = zim; // for the console and the browser tests
