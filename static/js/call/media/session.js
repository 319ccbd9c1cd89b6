// The media session of the call on the stage: this side's microphone, camera and shared
// screen, and how media travels, as the server says (queryMediaSession, asked again on
// callMediaChanged): "p2p", one Peer per other member, the signals out (in order, kept
// over a reconnect) and in (sorted out to the right peer); or "sfu", through the call's
// media server (serverlink.js). Mute and camera, the ICE servers.
import { ME, changed, zim } from "../store.js";
import { Peer, debug, setTracks } from "./peer.js";
import { ServerLink } from "./serverlink.js";
import { mediaReport } from "./stats.js";
import { deviceNote, listInputs, openDevice, openLocalStream } from "./devices.js";
import { stopLevels, watchLevels } from "./levels.js";

const SCREEN = { frameRate: { ideal: 15, max: 30 } };

export class Session {
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
    this.expected = new Set(); // the other Accepted members (index.js keeps it)
    this.topology = null; // "p2p" | "sfu" once the server said; peers open only on "p2p"
    this.link = null; // ServerLink while "sfu"
    this.asking = Promise.resolve();
    this.askedFor = 0; // members in the call when the server was last asked
    this.screen = null; // the shared screen's track
    this.screenStream = new MediaStream(); // its id, stable, tells the others which track is the screen
    this.hungUp = new Set(); // said bye: not called again until they signal or their state changes
    this.iceServers = [];
    this.sending = Promise.resolve();
    this.unsent = []; // signals the socket could not take; sent again after a reconnect
    this.closed = false;
    this.levels = null;
    this.ready = Promise.all([this._iceServers(), this._acquire()]).then(() => this._watchLevels());
    this.ask();
  }

  /** Ask the server how media travels (again: the call grew, the topology changed, a token is due). */
  ask() {
    this.asking = this.asking.then(async () => {
      if (this.closed) return;
      let answer;
      const asked = performance.now();
      try {
        answer = await zim.queryMediaSession(this.callID);
        debug("queryMediaSession", answer.topology, "in", Math.round(performance.now() - asked), "ms");
      } catch (err) {
        // a server without media sessions, or no answer now: as before, peer to peer
        if (this.topology === null) this._use({ topology: "p2p" });
        if (err.reason && err.reason !== "disconnected" && err.reason !== "timeout") debug("queryMediaSession", err.reason);
        return;
      }
      if (!this.closed && answer.callID === this.callID) this._use(answer);
    });
    return this.asking;
  }

  /** The call has `size` members now: a call that grows may move to the media server. */
  sizeIs(size) {
    if (size <= this.askedFor) return;
    const first = this.askedFor === 0;
    this.askedFor = size;
    if (!first && this.topology === "p2p" && size >= 3) {
      this.topology = null; // no new peer connection until the server answers
      this.ask();
    }
  }

  _use(answer) {
    if (answer.topology === "sfu" && answer.sfu) {
      this.topology = "sfu";
      if (!this.link) this.link = new ServerLink(this);
      this.link.use(answer.sfu);
    } else {
      this.topology = "p2p";
      this.link?.close();
      this.link = null;
    }
    changed("topology");
    changed("media");
  }

  /** Who is in the call besides me, as the tiles show them: a Peer, or a member through the server. */
  remotes() {
    const out = new Map();
    for (const userID of new Set([...this.expected, ...this.peers.keys()])) {
      const peer = this.peers.get(userID);
      // the mesh connection stays on show until the member's media arrives through the server
      if (this.link && (!peer || this.link.receivingFrom(userID))) out.set(userID, this.link.memberFor(userID));
      else if (peer) out.set(userID, peer);
    }
    return out;
  }

  /** [{userID, pc, trackIds}] for the quality marks (qualityview.js): a mesh peer's own
   * connection, or the server's shared connection with that member's tracks on it. */
  qualitySources() {
    const out = [];
    for (const [userID, remote] of this.remotes()) {
      if (remote.conn !== "connected") continue;
      if (remote === this.peers.get(userID)) {
        if (remote.pc) out.push({ userID, pc: remote.pc, trackIds: null });
      } else if (this.link?.client?.subscriberPc && remote.stream) {
        out.push({ userID, pc: this.link.client.subscriberPc, trackIds: remote.stream.getTracks().map((t) => t.id) });
      }
    }
    return out;
  }

  /** Who shares a screen (me included), the first by userID when two started at once. */
  presenters() {
    const list = [...this.remotes()].filter(([, r]) => r.remote.sharing).map(([userID]) => userID);
    if (this.screen) list.push(ME);
    return list.sort();
  }

  /** Muted and camera off as the others should show it (no microphone counts as muted). */
  publishedState() {
    return { muted: this.muted || !this.localTrack("audio"), cameraOff: this.cameraOff || !this.localTrack("video") };
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
    const { stream, error } = await openLocalStream(this.video);
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
    this.devices = await listInputs();
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

  /** After a WebSocket reconnect: send what was kept, restart ICE where media does not flow, ask again. */
  resume() {
    this.ask();
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
      // through the media server, a member's late offer (its side still moving) opens nothing
      if (kind !== "offer" || this.topology === "sfu") return;
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
    this.link?.setState(this.publishedState());
    changed("media");
  }

  /** Share a screen (the browser asks which); its own "Stop sharing" ends it as stopScreen does. */
  async startScreen() {
    if (this.screen || this.closed) return;
    const display = await navigator.mediaDevices.getDisplayMedia({ video: SCREEN, audio: false });
    const track = display.getVideoTracks()[0];
    if (this.screen || this.closed) {
      track.stop();
      return;
    }
    track.contentHint = "detail"; // text stays sharp; the frame rate gives way first
    track.addEventListener("ended", () => { if (this.screen === track) this.stopScreen(); });
    this.screen = track;
    setTracks(this.screenStream, [track]);
    for (const peer of this.peers.values()) peer.run(() => peer.addScreen());
    changed("media");
    await this.link?.shareScreen(track, this.screenStream);
  }

  stopScreen() {
    const track = this.screen;
    if (!track) return;
    this.screen = null;
    track.stop();
    setTracks(this.screenStream, []);
    for (const peer of this.peers.values()) peer.run(() => peer.removeScreen());
    this.link?.stopScreen()?.catch(() => {});
    changed("media");
  }

  /** Use another microphone or camera: the new track replaces the old on every connection. */
  async useDevice(kind, deviceId) {
    const track = await openDevice(kind, deviceId);
    if (this.closed) { track.stop(); return; }
    track.enabled = kind === "audio" ? !this.muted : !this.cameraOff;
    const old = this.localTrack(kind);
    if (!this.local) this.local = new MediaStream();
    if (old) this.local.removeTrack(old);
    this.local.addTrack(track);
    await this.link?.replaceTrack(kind, track);
    for (const peer of this.peers.values()) {
      const transceiver = peer.transceiverFor(kind);
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

  /** Speaking: levels.js watches each audio track. */
  _watchLevels() {
    if (this.closed) return;
    this._stopLevels();
    this.levels = watchLevels(this);
  }

  _stopLevels() {
    stopLevels(this.levels);
    this.levels = null;
  }

  close() {
    this.closed = true;
    clearTimeout(this.iceTimer);
    for (const userID of [...this.peers.keys()]) this.closePeer(userID);
    this.link?.close();
    this.link = null;
    for (const track of [...this.local?.getTracks() || [], ...this.screenStream.getTracks()]) track.stop();
    this.screen = null;
    this._stopLevels();
  }

  /** What is sent and received, per member and per stream (stats.js). */
  report() {
    return mediaReport(this);
  }

  /** Bytes received and sent per other member and kind (the browser tests read this). */
  async stats() {
    const { remotes } = await this.report();
    return Object.fromEntries(Object.entries(remotes).map(([userID, row]) => [userID,
      { conn: row.conn, via: row.via, audioIn: row.audioIn, videoIn: row.videoIn, audioOut: row.audioOut, videoOut: row.videoOut }]));
  }
}
