// A small call-invitation client with ZEGO ZIM's method names, over the
// site's WebSocket (/ws/calls/). The site's page authenticates with its session
// cookie (same origin); a page of an app on another origin passes `auth` and the
// client sends the app's token as the socket's first frame (PROTOCOL "Apps").
//
//   const zim = new ZIMClient();
//   zim.on("callInvitationReceived", (data, frame) => ...);
//   zim.connect();
//   const {callID} = await zim.callInvite(["bob"], {timeout: 30, mode: 1});
//
// Every command returns a Promise of the result's `data`; a refused command
// rejects with a ZIMError carrying PROTOCOL's {code, reason, message}.
//
// What the client adds to a bare socket:
// - reconnect with exponential backoff (and jitter), a ping watchdog;
// - it "holds" the calls it has seen and, after a reconnect or when an
//   event's `seq` skips a number, re-reads them with queryCall and emits
//   `callResynced` with the fresh CallInfo (events are at most once);
// - media signaling: `callSignal` out, the `callSignalReceived` event in (seq 0);
//   `queryMediaSession` (peer to peer or through the media server), `callMediaChanged` in;
// - commands paced under the server's per-socket limit (PROTOCOL "Limits
//   (version 3)"): what goes past the burst waits its turn instead of being
//   refused `rate_limited`;
// - `connectionStateChanged` {state: "connecting"|"connected"|"reconnecting"|"disconnected", attempt, delay}.

import { CommandPacer } from "./pacing.js";
import { CallState, ZIMError } from "./protocol.js";

export { CallMode, CallState, CallUserState, ZIMError } from "./protocol.js";

const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 10000;
const COMMAND_TIMEOUT_MS = 15000;
const MAX_BACKOFF_MS = 10000;
const OWN_MOVE_ECHO_MS = 10000;
// The server's defaults: CALL_SOCKET_COMMANDS_PER_SECOND 20, CALL_SOCKET_COMMANDS_BURST 40.
const COMMANDS_PER_SECOND = 20;
const COMMAND_BURST = 40;

function newDeviceID() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ZIMClient {
  /**
   * @param {object} [options]
   * @param {string} [options.url]       WebSocket URL without query (default: this origin's /ws/calls/)
   * @param {string} [options.deviceID]  one per tab by default (kept in sessionStorage across reloads)
   * @param {boolean} [options.presence] subscribe to userPresenceChanged (default true)
   * @param {number} [options.commandsPerSecond] the server's command limit per socket (default 20; 0: no pacing)
   * @param {number} [options.commandBurst] and its burst (default 40)
   * @param {{token: () => string}} [options.auth] an app token, sent as the first frame of every
   *   connection (read again on each reconnect); without it the session cookie authenticates
   */
  constructor(options = {}) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = options.url || `${scheme}//${location.host}/ws/calls/`;
    this.deviceID = options.deviceID || sessionStorage.getItem("zim.deviceID") || newDeviceID();
    sessionStorage.setItem("zim.deviceID", this.deviceID);
    this.presence = options.presence !== false;
    this.auth = options.auth || null;
    this.userID = null;
    this.serverOffsetMs = 0; // serverTime - Date.now() at hello
    this.state = "disconnected";
    this._handlers = new Map();
    this._pending = new Map();
    this._nextId = 1;
    this._pacer = new CommandPacer({
      perSecond: options.commandsPerSecond ?? COMMANDS_PER_SECOND,
      burst: options.commandBurst ?? COMMAND_BURST,
      send: (text) => this._ws.send(text),
    });
    this._ws = null;
    this._attempt = 0;
    this._everConnected = false;
    this._closedByUser = false;
    this._retryTimer = null;
    this._pingTimer = null;
    this._pongTimer = null;
    this._held = new Map(); // callID -> last seq seen
    this._resyncing = new Set();
    this._ownMoves = new Map(); // callID -> callJoin commands whose device_moved echo has not come yet
  }

  // ---- events -------------------------------------------------------------

  on(event, handler) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(handler);
    return () => this.off(event, handler);
  }

  off(event, handler) {
    this._handlers.get(event)?.delete(handler);
  }

  _emit(event, ...args) {
    for (const handler of this._handlers.get(event) || []) {
      try { handler(...args); } catch (err) { console.error(`zim ${event} handler`, err); }
    }
  }

  // ---- connection ---------------------------------------------------------

  connect() {
    this._closedByUser = false;
    this._open();
  }

  disconnect() {
    this._closedByUser = true;
    clearTimeout(this._retryTimer);
    this._ws?.close(1000);
    this._setState("disconnected");
  }

  /** Server time now, in ms (for deadlines sent by the server). */
  serverNow() {
    return Date.now() + this.serverOffsetMs;
  }

  _setState(state, extra = {}) {
    this.state = state;
    this._emit("connectionStateChanged", { state, ...extra });
  }

  _open() {
    const query = new URLSearchParams({ deviceID: this.deviceID });
    if (this.presence) query.set("presence", "1");
    this._setState(this._attempt ? "reconnecting" : "connecting", { attempt: this._attempt });
    const ws = new WebSocket(`${this.url}?${query}`);
    this._ws = ws;
    this._pacer.reset();
    if (this.auth) ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: this.auth.token() }));
    ws.onmessage = (msg) => this._onFrame(msg.data);
    ws.onclose = (ev) => this._onClose(ws, ev);
    ws.onerror = () => {}; // onclose follows and does the work
  }

  _onClose(ws, ev) {
    if (ws !== this._ws) return;
    clearInterval(this._pingTimer);
    clearTimeout(this._pongTimer);
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new ZIMError({ reason: "disconnected", message: "the connection was lost" }));
    }
    this._pending.clear();
    this._pacer.clear();
    this._ws = null;
    if (this._closedByUser) return;
    if (ev.code === 4401 || ev.code === 4403) {
      // signed out, the token refused or expired, or this origin not the token's app: retrying would not help
      this._setState("disconnected", { reason: ev.code === 4401 ? "unauthenticated" : "forbidden_origin", code: ev.code });
      return;
    }
    this._attempt += 1;
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** (this._attempt - 1));
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    this._setState("reconnecting", { attempt: this._attempt, delay, retryAt: Date.now() + delay });
    this._retryTimer = setTimeout(() => this._open(), delay);
  }

  /** Reconnect now instead of waiting for the backoff timer. */
  retryNow() {
    if (this._ws || this._closedByUser) return;
    clearTimeout(this._retryTimer);
    this._open();
  }

  _startPings() {
    clearInterval(this._pingTimer);
    this._pingTimer = setInterval(() => {
      if (this._ws?.readyState !== WebSocket.OPEN) return;
      this._ws.send(JSON.stringify({ type: "ping" }));
      clearTimeout(this._pongTimer);
      // a socket that stops answering is dead even if the browser has not noticed
      this._pongTimer = setTimeout(() => this._ws?.close(4000), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  _onFrame(text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    switch (frame.type) {
      case "hello": {
        const reconnected = this._attempt > 0 || this._everConnected;
        this.userID = frame.userID;
        this.deviceID = frame.deviceID;
        this.serverOffsetMs = frame.serverTime - Date.now();
        this._attempt = 0;
        this._everConnected = true;
        this._startPings();
        this._setState("connected", { userID: frame.userID, reconnected });
        if (reconnected) this._resyncAll();
        break;
      }
      case "pong":
        clearTimeout(this._pongTimer);
        break;
      case "result": {
        const p = this._pending.get(frame.id);
        if (!p) return;
        this._pending.delete(frame.id);
        clearTimeout(p.timer);
        if (frame.ok) p.resolve(frame.data);
        else p.reject(new ZIMError(frame.error || { reason: "unknown" }));
        break;
      }
      case "event":
        this._onEvent(frame);
        break;
      default:
        break;
    }
  }

  _onEvent(frame) {
    const { event, seq, data } = frame;
    const callID = data?.callID;
    if (callID && seq) {
      const last = this._held.get(callID);
      if (last !== undefined && seq > last + 1) {
        // a lost event: read the call again (after delivering this one)
        queueMicrotask(() => this._resync(callID));
      }
      if (last === undefined || seq > last) this._held.set(callID, seq);
      if (event === "callInvitationEnded" || event === "callInvitationTimeout" || event === "callInvitationCancelled") {
        this._held.delete(callID);
      }
    }
    this._emit(event, data, frame);
  }

  /** Stop watching a call (no resync for it any more). */
  forget(callID) {
    this._held.delete(callID);
  }

  /** Watch a call: resync it on reconnect and on seq gaps. */
  hold(callID, seq = 0) {
    if (!this._held.has(callID) || this._held.get(callID) < seq) this._held.set(callID, seq);
  }

  heldCalls() {
    return [...this._held.keys()];
  }

  _resyncAll() {
    for (const callID of this._held.keys()) this._resync(callID);
  }

  async _resync(callID) {
    if (this._resyncing.has(callID)) return;
    this._resyncing.add(callID);
    try {
      const info = await this.queryCall(callID);
      if (info.state === CallState.Ended) this._held.delete(callID);
      else this._held.set(callID, Math.max(this._held.get(callID) || 0, info.seq));
      this._emit("callResynced", info);
    } catch (err) {
      if (err.reason === "call_not_found") {
        this._held.delete(callID);
        this._emit("callResynced", { callID, missing: true });
      }
    } finally {
      this._resyncing.delete(callID);
    }
  }

  // ---- commands -----------------------------------------------------------

  _cmd(cmd, data = {}) {
    return new Promise((resolve, reject) => {
      if (this._ws?.readyState !== WebSocket.OPEN) {
        reject(new ZIMError({ reason: "disconnected", message: "not connected" }));
        return;
      }
      const id = this._nextId++;
      const timer = setTimeout(() => {
        this._pending.delete(id);
        this._pacer.drop(id);
        reject(new ZIMError({ reason: "timeout", message: `${cmd} got no answer` }));
      }, COMMAND_TIMEOUT_MS);
      this._pending.set(id, { resolve, reject, timer });
      this._pacer.push(id, JSON.stringify({ type: "cmd", id, cmd, data }));
    });
  }

  /** config: {timeout (0: no deadline), mode, extendedData, enableNotReceivedCheck, pushConfig, groupID,
   *  onlineUserOnly}; a glare answer ({merged: true}) is an accept of the invitee's call */
  async callInvite(invitees, config = {}) {
    const result = await this._cmd("callInvite", { invitees, ...config });
    this.hold(result.callID);
    return result;
  }

  callCancel(invitees, callID, config = {}) {
    const data = { callID, ...config };
    if (invitees && invitees.length) data.invitees = invitees;
    return this._cmd("callCancel", data);
  }

  /** A command on one call; afterwards the client holds (watches) it or forgets it. */
  async _callCmd(cmd, callID, config, after) {
    const result = await this._cmd(cmd, { callID, ...config });
    if (after === "hold") this.hold(callID);
    else this.forget(callID);
    return result;
  }

  callAccept(callID, config = {}) {
    return this._callCmd("callAccept", callID, config, "hold");
  }

  /** config: {extendedData, reason: "declined" | "busy"} */
  callReject(callID, config = {}) {
    return this._callCmd("callReject", callID, config, "forget");
  }

  callingInvite(invitees, callID, config = {}) {
    return this._cmd("callingInvite", { callID, invitees, ...config });
  }

  callJoin(callID, config = {}) {
    // a join that moves the call here echoes back as our own "device_moved": see takeOwnMove
    this._ownMoves.set(callID, (this._ownMoves.get(callID) || 0) + 1);
    setTimeout(() => this._ownMoves.delete(callID), OWN_MOVE_ECHO_MS);
    return this._callCmd("callJoin", callID, config, "hold");
  }

  /** True (once per callJoin of this client) if a "device_moved" change of ours is that join's echo. */
  takeOwnMove(callID) {
    const count = this._ownMoves.get(callID) || 0;
    if (!count) return false;
    this._ownMoves.set(callID, count - 1);
    return true;
  }

  callQuit(callID, config = {}) {
    return this._callCmd("callQuit", callID, config, "forget");
  }

  callEnd(callID, config = {}) {
    return this._callCmd("callEnd", callID, config, "forget");
  }

  /** config: {count, nextFlag} */
  queryCallInvitationList(config = {}) {
    return this._cmd("queryCallInvitationList", { count: 20, nextFlag: 0, ...config });
  }

  queryCall(callID) {
    return this._cmd("queryCall", { callID });
  }

  /** Media signaling: kind "offer" | "answer" | "candidate" | "bye"; payload a JSON object (at most 16 KB). */
  callSignal(callID, toUserID, kind, payload) {
    return this._cmd("callSignal", { callID, toUserID, kind, payload });
  }

  /** {iceServers: [RTCIceServer]} for RTCPeerConnection (TURN credentials made for this user). */
  queryIceServers() {
    return this._cmd("queryIceServers", {});
  }

  /** How the call's media travels: {callID, topology: "p2p"|"sfu", sfu?: {url, room, token, iceServers, expiresAt}}. */
  queryMediaSession(callID) {
    return this._cmd("queryMediaSession", { callID });
  }

  /** The site's extra command: other users with presence. */
  queryUsers(search = "", count = 50) {
    return this._cmd("queryUsers", { search, count });
  }

  /** The user's groups: {groupList: [{groupID, name, memberCount, members: [{userID, online}]}]}. */
  queryGroups() {
    return this._cmd("queryGroups", {});
  }

  /** A group's Started calls: {callList: [CallInfo]}. */
  queryGroupCalls(groupID) {
    return this._cmd("queryGroupCalls", { groupID });
  }

  /** Do not disturb: status "available" or "dnd", until (ms) when a dnd ends by itself (null: until changed). */
  setUserStatus(status, until = null) {
    return this._cmd("setUserStatus", { status, until });
  }

  /** {status, until}: "available" once a dnd's until has passed. */
  queryUserStatus() {
    return this._cmd("queryUserStatus", {});
  }
}
