// Media between the members of the call on the stage: WebRTC, peer to peer, a full
// mesh (one RTCPeerConnection per other Accepted member), signaled over the call's
// WebSocket (callSignal out, callSignalReceived in; PROTOCOL "Media signaling").
//
// Negotiation is "perfect negotiation": either side offers when it needs to; when two
// offers cross, the polite side (the member whose userID sorts later) rolls back and
// answers, the impolite one ignores the other's offer. To make crossing first offers rare,
// the impolite side offers first and the polite side waits a few seconds for it. Every payload carries the id of
// the connection that sent it (`from`) and, once known, the id of the one it is for
// (`to`): an offer from a new id means the other side started over (a reload, the call
// moved to another device), so this side starts over too; anything for a connection
// that is gone is dropped. `bye` closes the connection on the other side.
//
// Views read `media.session` and subscribe to the store topics "media" (peers, states,
// devices) and "levels" (someone started or stopped speaking).
import { CallUserState as S, CallMode, CallState } from "../zimclient.js";
import { ME, activeCall, changed, myState, on, stageOf, store, zim } from "./store.js";

const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 } };
const ICE_RESTARTS = 2; // restarts after a failure before the peer counts as failed
const DISCONNECTED_GRACE_MS = 5000; // "disconnected" this long: restart ICE
const CONNECT_WITHIN_MS = 20000; // not connected this long after the start: restart ICE
const POLITE_WAITS_MS = 4000; // for the impolite side's first offer, before offering itself
// Often, with a window of about 43 ms (2048 samples at 48 kHz): a short sound (a
// click, the fake microphone's 20 ms beep) always overlaps a window, however the
// sampling lines up with it; at 200 ms a periodic beep could fall between windows
// every time.
const LEVEL_EVERY_MS = 40;
const SPEAKING_LEVEL = 0.03; // RMS of the samples, 0..1
const SPEAKING_HOLD_MS = 600;
const EARLY_SIGNALS_MS = 15000; // signals for a call about to show here (accept still in flight)
const LEFT = new Set([S.Rejected, S.Cancelled, S.Timeout, S.Quit]);

/** localStorage["call.debug"] = "1": log every signal (the browser tests turn it on). */
const debug = (...args) => { if (localStorage.getItem("call.debug") === "1") console.debug("media", ...args); };

function newId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The media of this tab: null, or the session of the call on the stage. */
export const media = { session: null };

/** What a failed getUserMedia means for the user. */
function deviceNote(error, { wantedVideo, gotAudio, gotVideo }) {
  if (gotAudio && (gotVideo || !wantedVideo)) return "";
  if (gotAudio) return "No camera available (or not allowed): the others hear you but do not see you.";
  if (gotVideo) return "No microphone available (or not allowed): the others see you but do not hear you.";
  const why = error?.name === "NotAllowedError" || error?.name === "SecurityError"
    ? "Microphone and camera are not allowed for this site (browser settings)"
    : error?.name === "NotFoundError" || error?.name === "OverconstrainedError" || !navigator.mediaDevices
      ? "No microphone or camera found"
      : `The microphone or camera could not start (${error?.name || "error"})`;
  return `${why}: you see and hear the others, they do not hear or see you.`;
}

class Peer {
  constructor(session, userID) {
    this.session = session;
    this.userID = userID;
    this.polite = ME > userID;
    this.id = newId();
    this.remoteId = null;
    this.stream = new MediaStream();
    this.conn = "connecting"; // connecting | connected | reconnecting | failed
    this.everConnected = false;
    this.remote = { muted: false, cameraOff: false };
    this.speaking = false;
    this.loudAt = 0;
    this.makingOffer = false;
    this.applyingOffer = false;
    this.ignoreOffer = false;
    this.earlyCandidates = [];
    this.restarts = 0;
    this.graceTimer = null;
    this.connectTimer = null;
    this.offerTimer = null;
    this.attached = false;
    this.closed = false;
    this.pc = null;
    this.channel = null;
    this.queue = session.ready.then(() => this._open()).catch((err) => console.warn("media: peer", userID, err));
  }

  /** Run `step` after every earlier step of this peer (signals are handled in order). */
  run(step) {
    this.queue = this.queue.then(() => (this.closed ? null : step())).catch((err) => console.warn("media:", this.userID, err));
    return this.queue;
  }

  _open() {
    if (this.closed) return;
    const { session } = this;
    const pc = new RTCPeerConnection({ iceServers: session.iceServers });
    this.pc = pc;
    pc.ontrack = ({ track }) => {
      for (const old of this.stream.getTracks().filter((t) => t.kind === track.kind && t !== track)) this.stream.removeTrack(old);
      if (!this.stream.getTracks().includes(track)) this.stream.addTrack(track);
      track.onmute = track.onunmute = () => changed("media");
      changed("media");
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.send("candidate", candidate.toJSON());
    };
    pc.onnegotiationneeded = async () => {
      // an offer being applied: the browser asks again once it is back to stable, if still needed
      if (this.applyingOffer) return;
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        this.sendDescription();
      } catch (err) {
        console.warn("media: offer to", this.userID, err);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onconnectionstatechange = () => this._onConnectionState();
    // a connection that never gets there (lost signals, a network change) tries a new ICE round
    this.connectTimer = setTimeout(() => { if (!this.everConnected) this.run(() => this.restartIce()); }, CONNECT_WITHIN_MS);
    // The impolite side offers first; the polite side waits a little for that offer (two first
    // offers crossing is legal but needs a rollback), then offers itself.
    if (this.polite) this.offerTimer = setTimeout(() => this.run(() => this._attach()), POLITE_WAITS_MS);
    else this._attach();
    changed("media");
  }

  /** Our tracks and the state channel on the connection (adding them makes an offer due). */
  _attach() {
    if (this.attached || !this.pc) return;
    this.attached = true;
    clearTimeout(this.offerTimer);
    const { pc, session } = this;
    // negotiated on both sides: no extra round trip, it rides on the first offer
    this.channel = pc.createDataChannel("state", { negotiated: true, id: 0 });
    this.channel.onopen = () => this.sendState();
    this.channel.onmessage = (ev) => this._onState(ev.data);
    const local = session.local;
    for (const kind of session.kinds) {
      const track = local?.getTracks().find((t) => t.kind === kind);
      if (track) pc.addTrack(track, local);
      // receive-only for this kind; an answerer gets its receivers from the offer
      else if (!pc.remoteDescription && !this.applyingOffer) pc.addTransceiver(kind, { direction: "recvonly" });
    }
  }

  _onConnectionState() {
    const pc = this.pc;
    if (!pc || this.closed) return;
    debug("connection to", this.userID, pc.connectionState, "ice", pc.iceConnectionState);
    clearTimeout(this.graceTimer);
    const state = pc.connectionState;
    if (state === "connected") {
      this.conn = "connected";
      this.everConnected = true;
      this.restarts = 0;
    } else if (state === "disconnected") {
      this.conn = "reconnecting";
      this.graceTimer = setTimeout(() => this.restartIce(), DISCONNECTED_GRACE_MS);
    } else if (state === "failed") {
      if (this.restarts < ICE_RESTARTS) this.restartIce();
      else this.conn = "failed";
    } else if (state === "new" || state === "connecting") {
      this.conn = this.everConnected ? "reconnecting" : "connecting";
    }
    changed("media");
  }

  /** A new ICE round (new candidates, maybe through TURN) over the same connection. */
  restartIce() {
    if (!this.pc || this.closed) return;
    this.restarts += 1;
    this.conn = "reconnecting";
    this.pc.restartIce(); // negotiationneeded follows: a new offer
    changed("media");
  }

  /** The local description as the signal of its own type (offer or answer). */
  sendDescription() {
    const { type, sdp } = this.pc.localDescription;
    this.send(type, { type, sdp });
  }

  send(kind, body) {
    const payload = { ...body, from: this.id };
    if (this.remoteId) payload.to = this.remoteId;
    this.session.signal(this.userID, kind, payload);
  }

  /** A signal from this peer's current connection (session.onSignal has sorted out which). */
  async receive(kind, payload) {
    const pc = this.pc;
    if (!pc) return;
    if (kind === "offer" || kind === "answer") {
      if (!this.remoteId) this.remoteId = payload.from;
      const description = { type: payload.type, sdp: payload.sdp };
      const collision = description.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      this.applyingOffer = description.type === "offer";
      if (this.applyingOffer) this._attach(); // addTrack's transceivers take the offer's m-lines
      try {
        await pc.setRemoteDescription(description); // rolls back our own offer when polite
        if (description.type === "offer") {
          await pc.setLocalDescription();
          this.sendDescription();
        }
      } finally {
        this.applyingOffer = false;
      }
      for (const early of this.earlyCandidates.splice(0)) await this._addCandidate(early);
    } else if (kind === "candidate") {
      // a candidate can overtake the description it belongs to: keep it until that is set
      if (!pc.remoteDescription || !this.remoteId) this.earlyCandidates.push(payload);
      else await this._addCandidate(payload);
    }
  }

  async _addCandidate({ from, candidate, sdpMid, sdpMLineIndex, usernameFragment }) {
    if (from !== this.remoteId) return;
    try {
      await this.pc.addIceCandidate({ candidate, sdpMid, sdpMLineIndex, usernameFragment });
    } catch (err) {
      // expected for a candidate of an offer that was ignored or rolled back; the others still count
      if (!this.ignoreOffer) console.debug("media: candidate from", this.userID, err.message);
    }
  }

  sendState() {
    if (this.channel?.readyState === "open") {
      const { session } = this; // no microphone or camera counts as muted, camera off
      this.channel.send(JSON.stringify({ muted: session.muted || !session.localTrack("audio"),
        cameraOff: session.cameraOff || !session.localTrack("video") }));
    }
  }

  _onState(text) {
    try {
      const state = JSON.parse(text);
      this.remote = { muted: Boolean(state.muted), cameraOff: Boolean(state.cameraOff) };
      changed("media");
    } catch {
      // not ours: ignore
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.graceTimer);
    clearTimeout(this.connectTimer);
    clearTimeout(this.offerTimer);
    this.pc?.close();
    for (const track of this.stream.getTracks()) track.stop();
  }
}

class Session {
  constructor(call) {
    this.callID = call.callID;
    this.video = call.type !== "voice";
    this.kinds = this.video ? ["audio", "video"] : ["audio"];
    this.local = null;
    this.note = "";
    this.muted = false;
    this.cameraOff = false;
    this.speaking = false;
    this.loudAt = 0;
    this.devices = { audioinput: [], videoinput: [] };
    this.peers = new Map();
    this.hungUp = new Set(); // said bye: not called again until they signal or their state changes
    this.iceServers = [];
    this.sending = Promise.resolve();
    this.unsent = []; // signals the socket could not take; sent again after a reconnect
    this.closed = false;
    this.levels = null;
    this.ready = Promise.all([this._iceServers(), this._acquire()]).then(() => this._watchLevels());
  }

  // Asked once this user is Accepted (a session starts only then): the server gives TURN
  // entries only to a member whose media may flow, with credentials valid for a while.
  async _iceServers() {
    try {
      this.iceServers = (await zim.queryIceServers()).iceServers || [];
    } catch {
      this.iceServers = []; // same host or LAN still works without
    }
    // TURN REST usernames are `<expiry seconds>:<userID>`: ask again halfway to the first expiry;
    // the connections' next ICE round (a restart after a drop) uses the new credentials.
    const expiries = this.iceServers.map((s) => Number(/^(\d+):/.exec(s.username || "")?.[1])).filter((n) => n > 0);
    if (this.closed || !expiries.length) return;
    this.iceTimer = setTimeout(async () => {
      await this._iceServers();
      for (const peer of this.peers.values()) {
        try {
          peer.pc?.setConfiguration({ ...peer.pc.getConfiguration(), iceServers: this.iceServers });
        } catch (err) {
          console.warn("media: new ICE servers for", peer.userID, err);
        }
      }
    }, Math.max(60000, (Math.min(...expiries) * 1000 - Date.now()) / 2));
  }

  async _acquire() {
    const tries = this.video ? [{ audio: true, video: VIDEO }, { audio: true }, { video: VIDEO }] : [{ audio: true }];
    let error = null;
    let stream = null;
    for (const constraints of navigator.mediaDevices?.getUserMedia ? tries : []) {
      try {
        stream = await navigator.mediaDevices.getUserMedia(constraints);
        break;
      } catch (err) {
        error = err;
        if (err.name === "NotAllowedError" || err.name === "SecurityError") break; // asking again would not help
      }
    }
    if (this.closed) {
      for (const track of stream?.getTracks() || []) track.stop();
      return;
    }
    this.local = stream;
    this.note = deviceNote(error, {
      wantedVideo: this.video,
      gotAudio: Boolean(stream?.getAudioTracks().length),
      gotVideo: Boolean(stream?.getVideoTracks().length),
    });
    await this.listDevices();
    changed("media");
  }

  async listDevices() {
    try {
      const all = await navigator.mediaDevices.enumerateDevices();
      this.devices = {
        audioinput: all.filter((d) => d.kind === "audioinput" && d.deviceId),
        videoinput: all.filter((d) => d.kind === "videoinput" && d.deviceId),
      };
    } catch {
      this.devices = { audioinput: [], videoinput: [] };
    }
  }

  localTrack(kind) {
    return this.local?.getTracks().find((t) => t.kind === kind) || null;
  }

  /** Signals leave in order; one the socket could not take waits for the next connection. */
  signal(toUserID, kind, payload) {
    const callID = this.callID;
    debug("out", kind, "to", toUserID, payload.from, "to", payload.to);
    this.sending = this.sending.then(() => zim.callSignal(callID, toUserID, kind, payload)).catch((err) => {
      if (err.reason === "disconnected" || err.reason === "timeout") this.unsent.push([toUserID, kind, payload]);
      else console.warn("media: signal", kind, "to", toUserID, err.reason || err);
    });
  }

  /** After a WebSocket reconnect: send what was kept, restart ICE where media does not flow. */
  resume() {
    const unsent = this.unsent.splice(0);
    for (const [toUserID, kind, payload] of unsent) this.signal(toUserID, kind, payload);
    for (const peer of this.peers.values()) {
      if (peer.pc && peer.conn !== "connected") peer.run(() => peer.restartIce());
    }
  }

  openPeer(userID) {
    const peer = new Peer(this, userID);
    this.peers.set(userID, peer);
    return peer;
  }

  closePeer(userID) {
    const peer = this.peers.get(userID);
    if (!peer) return;
    peer.close();
    this.peers.delete(userID);
    changed("media");
  }

  onSignal({ fromUserID, kind, payload }) {
    let peer = this.peers.get(fromUserID);
    debug("in", kind, "from", fromUserID, payload.from, "to", payload.to, "peer", peer?.id, peer?.remoteId,
      peer?.pc?.signalingState);
    if (payload.to && payload.to !== peer?.id) return; // for a connection this tab no longer has
    if (kind === "bye") {
      if (peer && (!peer.remoteId || peer.remoteId === payload.from)) {
        this.hungUp.add(fromUserID);
        this.closePeer(fromUserID);
      }
      return;
    }
    if (peer?.remoteId && peer.remoteId !== payload.from) {
      if (kind !== "offer") return; // from a connection the other side has closed
      this.closePeer(fromUserID); // the other side started over: so do we
      peer = null;
    }
    if (!peer) {
      if (kind !== "offer") return;
      peer = this.openPeer(fromUserID);
    }
    this.hungUp.delete(fromUserID);
    peer.run(() => peer.receive(kind, payload));
  }

  /** Tell every peer this side is leaving (before a quit, end or hang-up). */
  byeAll() {
    for (const peer of this.peers.values()) {
      const payload = { from: peer.id };
      if (peer.remoteId) payload.to = peer.remoteId;
      zim.callSignal(this.callID, peer.userID, "bye", payload).catch(() => {});
    }
  }

  setMuted(muted) {
    this.muted = muted;
    for (const track of this.local?.getAudioTracks() || []) track.enabled = !muted;
    this._stateChanged();
  }

  setCameraOff(off) {
    this.cameraOff = off;
    for (const track of this.local?.getVideoTracks() || []) track.enabled = !off;
    this._stateChanged();
  }

  _stateChanged() {
    for (const peer of this.peers.values()) peer.sendState();
    changed("media");
  }

  /** Use another microphone or camera: the new track replaces the old on every connection. */
  async useDevice(kind, deviceId) {
    const constraints = kind === "audio" ? { audio: { deviceId: { exact: deviceId } } }
      : { video: { ...VIDEO, deviceId: { exact: deviceId } } };
    const track = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks()[0];
    if (this.closed) { track.stop(); return; }
    track.enabled = kind === "audio" ? !this.muted : !this.cameraOff;
    const old = this.localTrack(kind);
    if (!this.local) this.local = new MediaStream();
    if (old) this.local.removeTrack(old);
    this.local.addTrack(track);
    for (const peer of this.peers.values()) {
      const transceiver = peer.pc?.getTransceivers().find((t) => t.receiver.track.kind === kind);
      if (!transceiver) continue;
      if (transceiver.sender.track) await transceiver.sender.replaceTrack(track);
      else {
        // was receive-only: now send too (negotiationneeded follows)
        await transceiver.sender.replaceTrack(track);
        transceiver.sender.setStreams(this.local);
        transceiver.direction = "sendrecv";
      }
    }
    old?.stop();
    if (kind === "audio") this._watchLevels();
    this.note = deviceNote(null, { wantedVideo: this.video, gotAudio: Boolean(this.localTrack("audio")),
      gotVideo: Boolean(this.localTrack("video")) }) || "";
    changed("media");
  }

  /** Speaking: the level of each audio track (own and received), from one analyser per track. */
  _watchLevels() {
    if (this.closed) return;
    this._stopLevels();
    const context = window.AudioContext ? new AudioContext() : null;
    const meters = new Map(); // track -> {analyser, samples}
    const levelOf = (track) => {
      if (!context || !track || track.readyState !== "live") return 0;
      let meter = meters.get(track);
      if (!meter) {
        const analyser = context.createAnalyser();
        analyser.fftSize = 2048;
        context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
        meter = { analyser, samples: new Float32Array(analyser.fftSize) };
        meters.set(track, meter);
      }
      meter.analyser.getFloatTimeDomainData(meter.samples);
      return Math.sqrt(meter.samples.reduce((sum, x) => sum + x * x, 0) / meter.samples.length);
    };
    // loud now, or loud a moment ago: the ring does not flicker between syllables
    const speaking = (who, loud) => {
      if (loud) who.loudAt = Date.now();
      return loud || Date.now() - (who.loudAt || 0) < SPEAKING_HOLD_MS;
    };
    const timer = setInterval(() => {
      if (context?.state === "suspended") context.resume().catch(() => {});
      const before = [this.speaking, ...[...this.peers.values()].map((peer) => peer.speaking)].join();
      this.speaking = speaking(this, !this.muted && levelOf(this.localTrack("audio")) > SPEAKING_LEVEL);
      for (const peer of this.peers.values()) {
        peer.speaking = speaking(peer, !peer.remote.muted && levelOf(peer.stream.getAudioTracks()[0]) > SPEAKING_LEVEL);
      }
      for (const track of meters.keys()) if (track.readyState !== "live") meters.delete(track);
      // the tiles redraw only when someone starts or stops speaking
      if ([this.speaking, ...[...this.peers.values()].map((peer) => peer.speaking)].join() !== before) changed("levels");
    }, LEVEL_EVERY_MS);
    this.levels = { timer, context };
  }

  _stopLevels() {
    clearInterval(this.levels?.timer);
    this.levels?.context?.close().catch(() => {});
    this.levels = null;
  }

  close() {
    this.closed = true;
    clearTimeout(this.iceTimer);
    for (const userID of [...this.peers.keys()]) this.closePeer(userID);
    for (const track of this.local?.getTracks() || []) track.stop();
    this._stopLevels();
  }

  /** Bytes received and sent per peer and kind (the browser tests read this). */
  async stats() {
    const out = {};
    for (const [userID, peer] of this.peers) {
      const row = { conn: peer.conn, audioIn: 0, videoIn: 0, audioOut: 0, videoOut: 0 };
      for (const report of (await peer.pc?.getStats())?.values() || []) {
        if (report.type === "inbound-rtp") row[`${report.kind}In`] += report.bytesReceived || 0;
        if (report.type === "outbound-rtp") row[`${report.kind}Out`] += report.bytesSent || 0;
      }
      out[userID] = row;
    }
    return out;
  }
}

// ---- which call has media, and with whom ------------------------------------------------

/** Media runs for the call on the stage of this tab while this user is Accepted in it. */
function mediaCall() {
  const call = activeCall();
  if (!call || !store.here.has(call.callID) || stageOf(call) !== "incall" || myState(call) !== S.Accepted) return null;
  // general mode: the call Ends once everyone answered, the media goes on (server: CALL_MEDIA_MAX_SECONDS)
  if (call.mode === CallMode.Advanced && call.state !== CallState.Started) return null;
  return call;
}

const early = []; // [{at, signal}] for calls not (yet) on the stage

function sync() {
  const call = mediaCall();
  let session = media.session;
  if (session && session.callID !== call?.callID) {
    session.close();
    session = media.session = null;
    changed("media");
  }
  if (!call) return;
  if (!session) {
    session = media.session = new Session(call);
    const now = Date.now();
    for (const { at, signal } of early.splice(0)) {
      if (signal.callID === call.callID && now - at < EARLY_SIGNALS_MS) session.onSignal(signal);
    }
  }
  const others = [...call.members.values()].filter((m) => m.userID !== ME);
  const accepted = new Set(others.filter((m) => m.state === S.Accepted).map((m) => m.userID));
  // Only a member known to have left loses its connection: a signal can overtake the event that
  // says its sender accepted (the server only relays between Accepted members).
  const gone = new Set(others.filter((m) => LEFT.has(m.state)).map((m) => m.userID));
  for (const userID of [...session.peers.keys()]) {
    if (gone.has(userID)) session.closePeer(userID);
  }
  for (const userID of [...session.hungUp]) {
    if (!accepted.has(userID)) session.hungUp.delete(userID); // left: a later join is a new start
  }
  for (const userID of accepted) {
    if (!session.peers.has(userID) && !session.hungUp.has(userID)) session.openPeer(userID);
  }
  changed("media");
}

function onSignal(signal) {
  const session = media.session;
  if (session && session.callID === signal.callID) {
    session.onSignal(signal);
    return;
  }
  early.push({ at: Date.now(), signal });
  while (early.length && Date.now() - early[0].at > EARLY_SIGNALS_MS) early.shift();
}

export function initMedia() {
  on("stage", sync);
  on("hangup", () => media.session?.byeAll());
  zim.on("callSignalReceived", onSignal);
  zim.on("connectionStateChanged", ({ state }) => {
    if (state === "connected") media.session?.resume();
  });
  window.addEventListener("pagehide", () => media.session?.byeAll());
  navigator.mediaDevices?.addEventListener?.("devicechange", async () => {
    await media.session?.listDevices();
    changed("media");
  });
}
