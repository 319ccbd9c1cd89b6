// One member's connection in the media of the call on the stage: WebRTC, peer to peer,
// a full mesh (one RTCPeerConnection per other Accepted member), signaled over the call's
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
// A shared screen is one more video track, in the sharing side's screen stream; the state
// channel says that stream's id (stable for the session) and whether a screen is shared,
// so the other side sorts each track it receives into the camera or the screen.
import { ME, changed } from "../store.js";

const ICE_RESTARTS = 2; // restarts after a failure before the peer counts as failed
const DISCONNECTED_GRACE_MS = 5000; // "disconnected" this long: restart ICE
const CONNECT_WITHIN_MS = 20000; // not connected this long after the start: restart ICE
const POLITE_WAITS_MS = 4000; // for the impolite side's first offer, before offering itself

/** localStorage["call.debug"] = "1": log every signal (the browser tests turn it on). */
export const debug = (...args) => { if (localStorage.getItem("call.debug") === "1") console.debug("media", ...args); };

function newId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The connection to one other member. */
export class Peer {
  constructor(session, userID) {
    this.session = session;
    this.userID = userID;
    this.polite = ME > userID;
    this.id = newId();
    this.remoteId = null;
    this.stream = new MediaStream(); // microphone and camera
    this.screen = new MediaStream();
    this.streamOf = new Map(); // received track -> the id of the stream it came in
    this.screenSender = null;
    this.conn = "connecting"; // connecting | connected | reconnecting | failed
    this.everConnected = false;
    this.remote = { muted: false, cameraOff: false, sharing: false, screenId: null };
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
    pc.ontrack = ({ track, streams }) => {
      this.streamOf.delete(track); // re-added last: the newest track of a kind is the one shown
      this.streamOf.set(track, streams[0]?.id ?? "");
      track.onmute = track.onunmute = () => changed("media");
      this._sortTracks();
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
    if (session.screen) this.screenSender = pc.addTrack(session.screen, session.screenStream);
  }

  /** Send the screen this side shares (a new track: negotiated the first time only). */
  async addScreen() {
    const { session } = this;
    if (!this.attached || !session.screen) return;
    if (this.screenSender) await this.screenSender.replaceTrack(session.screen);
    else this.screenSender = this.pc.addTrack(session.screen, session.screenStream);
    this.sendState();
  }

  /** Stop sending the screen (the transceiver stays, silent, for the next time). */
  async removeScreen() {
    await this.screenSender?.replaceTrack(null);
    this.sendState();
  }

  /** The camera's transceiver for `kind` (not the screen's, ours or theirs). */
  transceiverFor(kind) {
    return this.pc?.getTransceivers().find((t) => t.receiver.track.kind === kind && t.sender !== this.screenSender
      && this.streamOf.get(t.receiver.track) !== this.remote.screenId) || null;
  }

  /** Each received track into the camera stream (the newest of each kind) or the screen stream. */
  _sortTracks() {
    const camera = new Map(); // kind -> track
    const screen = [];
    for (const [track, streamId] of this.streamOf) {
      if (track.readyState === "ended") this.streamOf.delete(track);
      else if (this.remote.screenId && streamId === this.remote.screenId) screen.push(track);
      else camera.set(track.kind, track);
    }
    setTracks(this.stream, [...camera.values()]);
    setTracks(this.screen, screen);
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
        cameraOff: session.cameraOff || !session.localTrack("video"),
        sharing: Boolean(session.screen), screenId: session.screenStream.id }));
    }
  }

  _onState(text) {
    try {
      const state = JSON.parse(text);
      this.remote = { muted: Boolean(state.muted), cameraOff: Boolean(state.cameraOff),
        sharing: Boolean(state.sharing), screenId: typeof state.screenId === "string" ? state.screenId : null };
      this._sortTracks();
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
    for (const track of [...this.stream.getTracks(), ...this.screen.getTracks()]) track.stop();
  }
}

/** Make `stream` hold exactly `tracks` (the same MediaStream object: video elements keep it). */
export function setTracks(stream, tracks) {
  for (const old of stream.getTracks()) if (!tracks.includes(old)) stream.removeTrack(old);
  for (const track of tracks) if (!stream.getTracks().includes(track)) stream.addTrack(track);
}
