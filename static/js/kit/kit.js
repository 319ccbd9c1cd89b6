// The call kit: the ringing and in-call UI of the site, for the site's own page and for any
// app's page (docs/embedding.md). It hands the page's views (static/js/call/*) what they
// need (the client, the user, the limits, a shadow root to render into, the settings) and
// adds UIKit's API around them: init, sendCallInvitation, the callbacks (callbacks.js).
//
// One kit per page, as UIKit's ZegoUIKitPrebuilt: the views keep module state, so they are
// wired once; destroy() disconnects and forgets everything, and init may run again (another
// user, another token) on the same views.
import { CallMode, CallUserState as S, ZIMClient, ZIMError } from "../zimclient.js";
import { setRingtoneFile } from "../ringtone.js";
import { ME, PENDING, activeCall, inCall, initStore, on, resetStore, setUsers, stageOf, store, zim } from "../call/store.js";
import { keepSettingsIn } from "../call/settings.js";
import { mark, setRoots } from "../call/ui.js";
import { hangUpActive, initStage, leaveStage, loadCallsStillIn, render, restoreAfterReload } from "../call/stage.js";
import { initOutgoing, sendInvitation } from "../call/outgoing.js";
import { initInvite } from "../call/invite.js";
import { initIncoming } from "../call/incoming.js";
import { initEvents } from "../call/events.js";
import { initMedia, media } from "../call/media/index.js";
import { initTiles } from "../call/tiles.js";
import { CallKitElement } from "./element.js";
import { CallKitError, buttonsStyle, configFrom } from "./config.js";
import { callbackHooks, emit, forgetAll, invitedBy, learnNames, listen, userOf } from "./callbacks.js";
import { loadLanguage, setWords } from "./language.js";
import { setLanguage } from "../call/intl.js";

export { CallKitError };

const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;
const WARN_BEFORE_EXPIRY_MS = 60000;
/** The site this module came from: the default `server`. */
const HOME = new URL("../..", import.meta.url).origin;

const page = { kit: null, client: null, element: null, wired: false };

/** Settings an app's kit keeps for itself (not the site's localStorage choices). */
function memoryStorage(values) {
  const map = new Map(Object.entries(values));
  return { getItem: (key) => map.get(key) ?? null, setItem: (key, value) => map.set(key, String(value)) };
}

/** The token's `exp` (ms), read without verifying (the server verifies): when to ask for a new one. */
function expiresAt(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return Number(JSON.parse(atob(payload)).exp) * 1000 || 0;
  } catch {
    return 0;
  }
}

const invalid = (message) => new CallKitError({ reason: "invalid_argument", message });

function kitError(err) {
  if (err instanceof CallKitError) return err;
  if (err instanceof ZIMError) return new CallKitError({ code: err.code, reason: err.reason, message: err.message });
  return new CallKitError({ reason: "unknown", message: String(err?.message || err) });
}

/** The views, wired once per page, in the order the page has always wired them. */
function wireViews(kit) {
  initStage();
  initOutgoing();
  initInvite();
  initIncoming({ answersFromNotifications: kit.config.sitePage });
  callbackHooks.before();
  initEvents();
  callbackHooks.after();
  initMedia();
  initTiles();
  zim.on("connectionStateChanged", (change) => page.kit?.connectionChanged(change));
  on("stage", () => page.kit?.stageChanged());
  on("hangup", () => page.kit?.hungUpHere());
  on("media", () => page.kit?.mediaChanged());
}

export class CallKit {
  static InvitationTypeVoiceCall = 0;
  static InvitationTypeVideoCall = 1;
  static version = "1.0.0";

  /** Mount the kit and connect; resolves once the server said hello (sendCallInvitation works then). */
  static async init(options) {
    // the sentences first: the markup is drawn in the language at the first init
    if (!page.kit) await loadLanguage(new URL(options?.server || HOME).origin, options?.config?.language || "");
    const kit = CallKit.mount(options);
    try {
      await kit.connect();
    } catch (err) {
      kit.destroy();
      throw err;
    }
    return kit;
  }

  /** Mount the kit without connecting (a page that wires parts of its own first, then connect()). */
  static mount(options) {
    if (page.kit) throw new CallKitError({ reason: "already_initialized", message: "one kit per page: destroy() it first" });
    return new CallKit(options || {});
  }

  constructor({ server, token, userID, userName, config, events }) {
    if (typeof userID !== "string" || !USER_ID.test(userID)) throw invalid("userID: 1..64 of A-Z a-z 0-9 _ . @ -");
    if (token !== undefined && (typeof token !== "string" || !token)) throw invalid("token: the JWT your server made");
    this.config = configFrom(config);
    this.server = new URL(server || HOME).origin;
    this.userID = userID;
    this.userName = userName || userID;
    this.state = "disconnected";
    this._token = token || null;
    this._expiryTimer = null;
    this._shown = { callID: null, stage: "idle" }; // the in-call view last shown (onCallEnd)
    this._hungUp = null; // the call this user hung up here
    this._session = null; // the media session the join options were applied to
    this._ringback = null;
    this._unlisten = listen(events);
    learnNames([{ userID, userName: this.userName }]);

    const client = page.client || new ZIMClient();
    const scheme = this.server.startsWith("https:") ? "wss:" : "ws:";
    Object.assign(client, {
      url: `${scheme}//${new URL(this.server).host}/ws/calls/`,
      presence: this.config.sitePage || this.config.buttons.inviteMore, // the people lists'
      auth: this._token ? { token: () => this._token } : null,
    });
    page.client = client;
    const element = this.config.element || page.element || document.createElement("call-kit");
    if (!(element instanceof CallKitElement)) throw invalid("config.element: a <call-kit> element");
    this.element = page.element = element;
    initStore({ client, user: userID, maxParticipants: this.config.limits.maxParticipants,
      minTimeout: this.config.limits.minTimeout, maxTimeout: this.config.limits.maxTimeout,
      defaultTimeout: this.config.limits.defaultTimeout });
    keepSettingsIn(this.config.sitePage ? null : memoryStorage({
      "call.autoBusy": this.config.rejectWhenBusy ? "1" : "0", "call.muted": this.config.ringtone.muted ? "1" : "0" }));
    setRingtoneFile(this.config.ringtone.incomingCallUrl);
    setWords(this.config.words);
    element.render();
    element.configStyle = buttonsStyle(this.config.buttons);
    element.dataset.layout = this.config.layout;
    if (this.config.language) element.lang = this.config.language;
    setLanguage(this.config.language);
    setRoots({ kit: element.shadowRoot, page: this.config.sitePage ? document : null,
      marks: this.config.sitePage ? [element, document.body] : [element] });
    if (!element.isConnected) (this.config.container || document.body).append(element);
    page.kit = this;
    if (!page.wired) {
      page.wired = true;
      wireViews(this);
    }
    this._watchExpiry();
    render();
  }

  /** Connect; resolves at the server's hello, rejects (CallKitError) when it refuses the token or origin. */
  connect() {
    return new Promise((resolve, reject) => {
      const off = zim.on("connectionStateChanged", ({ state, reason, code, userID }) => {
        if (state === "connected") {
          off();
          if (userID === this.userID) resolve(this);
          else reject(new CallKitError({ reason: "user_mismatch", message: `the token is ${userID}'s, not ${this.userID}'s` }));
        } else if (state === "disconnected" && reason) {
          off();
          reject(new CallKitError({ code, reason, message: `the server refused the connection (${reason})` }));
        }
      });
      zim.connect();
    });
  }

  /** {invitees (or UIKit's callees): [{userID, userName}] or [userID], callType: 0 voice | 1 video,
   * timeout (s, default config.timeout), data (a string for the invitees), notificationConfig: {title, message}}
   * -> {callID, timeout, errorInvitees: [{userID, userName, reason}]} */
  async sendCallInvitation({ invitees: given, callees, callType, timeout, data, notificationConfig } = {}) {
    const people = (given || callees || []).map((u) => (typeof u === "string" ? { userID: u } : u));
    if (!people.length || people.some((u) => typeof u?.userID !== "string")) throw invalid("invitees: [{userID, userName}]");
    if (callType !== 0 && callType !== 1) throw invalid("callType: CallKit.InvitationTypeVoiceCall or InvitationTypeVideoCall");
    if (data !== undefined && typeof data !== "string") throw invalid("data: a string");
    learnNames(people);
    const userIDs = people.map((u) => u.userID);
    const seconds = timeout ?? this.config.timeout;
    const withNames = (errors) => errors.map((e) => ({ ...userOf(e.userID), reason: e.reason }));
    try {
      const active = activeCall();
      if (active && inCall() && this.config.canInvitingInCalling) {
        const result = await zim.callingInvite(userIDs, active.callID, { timeout: seconds });
        invitedBy(active.callID, userIDs.filter((u) => !result.errorInvitees.some((e) => e.userID === u)));
        return { callID: active.callID, timeout: result.timeout, errorInvitees: withNames(result.errorInvitees) };
      }
      const pushConfig = notificationConfig
        ? { title: notificationConfig.title || "", content: notificationConfig.message || "", payload: "" } : undefined;
      const result = await sendInvitation(userIDs, { type: callType === 0 ? "voice" : "video",
        mode: this.config.canInvitingInCalling ? CallMode.Advanced : CallMode.General, timeout: seconds, data: data ?? "", pushConfig });
      return { callID: result.callID, timeout: result.timeout, errorInvitees: withNames(result.errorInvitees) };
    } catch (err) {
      // nobody could be invited: answered as UIKit does, every invitee in errorInvitees
      if (err.reason === "no_invitee_registered") {
        return { callID: "", timeout: seconds, errorInvitees: userIDs.map((u) => ({ ...userOf(u), reason: "user_not_found" })) };
      }
      throw kitError(err);
    }
  }

  /** A new token for the next (re)connection (answer to onTokenWillExpire). */
  renewToken(token) {
    if (typeof token !== "string" || !token) throw invalid("token: the JWT your server made");
    this._token = token;
    this._watchExpiry();
  }

  /** Cancel the call ringing out, or leave the call on the stage. */
  async hangUp() {
    const call = activeCall();
    if (!call) return;
    this._hungUp = call.callID;
    if (stageOf(call) === "outgoing") {
      await zim.callCancel([], call.callID).catch(() => {});
      if (call.mode === CallMode.Advanced) await zim.callEnd(call.callID).catch(() => {});
      leaveStage(call.callID, "");
    } else {
      await hangUpActive();
    }
  }

  /** Disconnect, stop media, forget every call and callback, take the element off the page. */
  destroy() {
    if (page.kit !== this) return;
    this._stopRingback();
    clearTimeout(this._expiryTimer);
    zim.disconnect();
    for (const callID of zim.heldCalls()) zim.forget(callID);
    resetStore();
    this._unlisten();
    forgetAll();
    if (!this.config.element) this.element.remove();
    page.kit = null;
    this.state = "disconnected";
  }

  /** kit.on("onIncomingCallReceived", fn): more than one listener (the events given to init are one). */
  on(name, handler) {
    return listen({ [name]: handler });
  }

  // ---- what the views' changes mean for the kit -------------------------------------

  connectionChanged({ state, reason, code }) {
    this.state = state;
    mark("conn", state);
    if (state === "connected") {
      restoreAfterReload().then(loadCallsStillIn);
      // the invite dialog lists the people of this app
      if (!this.config.sitePage && this.config.buttons.inviteMore) {
        zim.queryUsers("", 100).then(({ users }) => setUsers(users)).catch(() => {});
      }
    } else if (state === "disconnected" && reason) {
      emit("onError", new CallKitError({ code, reason, message: `the server closed the connection (${reason})` }));
    }
  }

  stageChanged() {
    const call = activeCall();
    const stage = stageOf(call);
    const was = this._shown;
    if (was.stage === "incall" && (stage !== "incall" || call.callID !== was.callID)) {
      emit("onCallEnd", was.callID, this._endReason(was.callID));
    }
    this._shown = { callID: call?.callID || null, stage };
    if (stage === "outgoing" && this.config.ringtone.outgoingCallUrl) this._startRingback();
    else this._stopRingback();
  }

  hungUpHere() {
    this._hungUp = store.activeID;
  }

  /** The microphone and camera as the app asked (turnOn…WhenJoining), once per call. */
  mediaChanged() {
    const session = media.session;
    if (!session || session === this._session) return;
    this._session = session;
    const { turnOnMicrophoneWhenJoining: mic, turnOnCameraWhenJoining: camera } = this.config;
    if (mic && camera) return;
    session.ready.then(() => {
      if (!mic) session.setMuted(true);
      if (!camera && session.video) session.setCameraOff(true);
    });
  }

  /** "hangUp" (this user), "remoteHangUp" (everyone else left), "ended" (the call ended). */
  _endReason(callID) {
    const call = store.calls.get(callID);
    const others = call ? [...call.members.values()].filter((m) => m.userID !== ME) : [];
    const everyoneLeft = others.length && others.every((m) => m.state !== S.Accepted && !PENDING.has(m.state));
    if (this._hungUp === callID && !everyoneLeft) return "hangUp";
    return everyoneLeft ? "remoteHangUp" : "ended";
  }

  _startRingback() {
    if (this._ringback) return;
    this._ringback = Object.assign(new Audio(this.config.ringtone.outgoingCallUrl), { loop: true });
    this._ringback.play().catch(() => {});
  }

  _stopRingback() {
    this._ringback?.pause();
    this._ringback = null;
  }

  _watchExpiry() {
    clearTimeout(this._expiryTimer);
    const at = this._token ? expiresAt(this._token) : 0;
    if (!at) return;
    this._expiryTimer = setTimeout(() => emit("onTokenWillExpire"), Math.max(0, at - WARN_BEFORE_EXPIRY_MS - Date.now()));
  }
}
