// The media session of the call on the stage: this side's microphone and camera,
// one Peer per other member, the signals out (in order, kept over a reconnect) and
// in (sorted out to the right peer), mute and camera, the ICE servers.
import { changed, zim } from "../store.js";
import { Peer, debug } from "./peer.js";
import { deviceNote, listInputs, openDevice, openLocalStream } from "./devices.js";
import { stopLevels, watchLevels } from "./levels.js";

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
    const track = await openDevice(kind, deviceId);
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
