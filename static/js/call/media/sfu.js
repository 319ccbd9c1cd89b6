// The call's media through its media server (Janus's VideoRoom plugin, over Janus's
// WebSocket API): this page publishes its microphone and camera once, on one connection
// up, and receives every other member on ONE connection down (Janus 1.x multistream:
// `join` as a subscriber, then `subscribe` as members arrive). One connection down
// whatever the size of the call: one ICE/DTLS transport, and Janus folds concurrent
// changes into one renegotiation, so the page only answers Janus's offers, in order.
//
// What the members' tiles need travels as the published streams' descriptions (Janus
// sends everyone the new list when one changes): "microphone" / "microphone muted",
// "camera" / "camera off", "screen" / "screen off". A shared screen is a second video
// stream of the same publisher; it stays negotiated once shared and goes silent when
// the sharing stops, so sharing again needs no renegotiation.
//
// Events (EventTarget): "change" (members, their streams or state, the connection),
// "closed" {reason}: "kicked" | "destroyed" | "hangup" | "timeout" | "socket" | "left".

import { JanusConnection } from "./janus.js";
import { setTracks } from "./peer.js";

const VIDEOROOM = "janus.plugin.videoroom";

/** One other member as received from the server (the tiles read it as they read a Peer). */
class SfuMember {
  constructor(userID) {
    this.userID = userID;
    this.stream = new MediaStream(); // microphone and camera
    this.screen = new MediaStream();
    this.remote = { muted: true, cameraOff: true, sharing: false };
    this.conn = "connecting";
    this.speaking = false;
    this.loudAt = 0;
  }
}

const describe = (role, on) => (on ? role : `${role} ${role === "microphone" ? "muted" : "off"}`);

export class SfuClient extends EventTarget {
  constructor({ url, room, token, iceServers = [], userID }) {
    super();
    Object.assign(this, { url, room, token, iceServers, userID });
    this.members = new Map(); // userID -> SfuMember
    this.conn = "connecting"; // of the connection down: connecting | connected | reconnecting | failed
    this.publisherPc = null;
    this.subscriberPc = null;
    this.closed = false;
    this.joined = false; // published (or present) in the room
    this.state = { muted: false, cameraOff: false, sharing: false };
    this.sent = new Map(); // our published mid -> role ("microphone", "camera", "screen")
    this.screenSender = null;
    this._participantId = null;
    this._privateId = null;
    this._janus = new JanusConnection({ url, token, onEvent: (msg) => this._onEvent(msg), onClose: (reason) => this._close(reason) });
    this._pubHandle = null;
    this._subHandle = null;
    this._feeds = new Map(); // feed id -> {userID, streams: Map feed mid -> {type, description}}
    this._subscribed = new Set(); // "feed mid" pairs asked for
    this._midSource = new Map(); // our subscriber mid -> {feed, feedMid}
    this._subscriberChain = Promise.resolve(); // offers and subscribe requests, strictly in order
    this._publisherChain = Promise.resolve(); // publish and configure requests, in order
    this._remoteReady = new Map(); // handle -> Promise resolved once a remote description is set
  }

  /** The token for the next requests (Janus checks its expiry on every one, keepalives too). */
  setToken(token) {
    this.token = token;
    this._janus.token = token;
  }

  /** Join the room and publish `stream` (null: nothing to send; the others still see us). */
  async join(stream, state) {
    Object.assign(this.state, state);
    await this._janus.open();
    this._pubHandle = await this._janus.attach(VIDEOROOM);
    const joined = await this._janus.message(this._pubHandle, {
      request: "join", ptype: "publisher", room: this.room, display: this.userID, token: this.token,
    });
    this._participantId = joined.data.id;
    this._privateId = joined.data.private_id;
    const published = await this._publish(stream);
    this.joined = true;
    this._onPublishers(joined.data.publishers || []);
    // muted or camera off while joining: say so now
    if (JSON.stringify(published) !== JSON.stringify(this._descriptions())) await this.setState({});
  }

  /** Muted microphone, camera off: told to the others through the descriptions. */
  setState(state) {
    Object.assign(this.state, state);
    if (!this.joined) return Promise.resolve(); // join publishes the state as it is then
    return this._configure({ descriptions: this._descriptions() });
  }

  /** Send `track` (the camera or microphone just chosen) instead of the one sent now. */
  async replaceTrack(kind, track) {
    const role = kind === "audio" ? "microphone" : "camera";
    const transceiver = this.publisherPc?.getTransceivers().find((t) => this.sent.get(t.mid) === role);
    await transceiver?.sender.replaceTrack(track);
  }

  /** Share a screen: a second video stream (negotiated the first time only). */
  shareScreen(track, stream) {
    this.state.sharing = true;
    return this._queuePublisher(async () => {
      if (this.screenSender) {
        await this.screenSender.replaceTrack(track);
        await this._configureNow({ descriptions: this._descriptions() });
        return;
      }
      const transceiver = this.publisherPc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      this.screenSender = transceiver.sender;
      const offer = await this.publisherPc.createOffer();
      await this.publisherPc.setLocalDescription(offer);
      this.sent.set(transceiver.mid, "screen");
      const answer = await this._janus.message(this._pubHandle, { request: "configure", descriptions: this._descriptions() },
        { type: offer.type, sdp: offer.sdp });
      await this.publisherPc.setRemoteDescription(answer.jsep);
    });
  }

  stopScreen() {
    this.state.sharing = false;
    return this._queuePublisher(async () => {
      await this.screenSender?.replaceTrack(null);
      if (this.screenSender) await this._configureNow({ descriptions: this._descriptions() });
    });
  }

  leave() {
    return this._janus.destroy();
  }

  /** Whether media from userID reaches this page (a track of theirs has had packets). */
  receivingFrom(userID) {
    const member = this.members.get(userID);
    return Boolean(member) && this.conn === "connected" && member.stream.getTracks().some((t) => !t.muted);
  }

  /** userID of the subscriber mid (for the stats). */
  userOfMid(mid) {
    const source = this._midSource.get(mid);
    return source ? this._feeds.get(source.feed)?.userID ?? null : null;
  }

  // ---- from the server ---------------------------------------------------------------------

  _onEvent(msg) {
    if (msg.janus === "trickle") {
      this._onTrickle(msg);
      return;
    }
    if (msg.janus === "hangup" && msg.sender === this._pubHandle) {
      this._janus.close("hangup");
      return;
    }
    if (msg.janus !== "event") return;
    const data = msg.plugindata ? msg.plugindata.data : {};
    if (msg.sender === this._subHandle) {
      if (msg.jsep?.type === "offer") this._queueSubscriber(() => this._answerOffer(data, msg.jsep));
      return;
    }
    if (data.videoroom === "destroyed") this._janus.close("destroyed");
    else if (data.leaving === "ok" && data.reason === "kicked") this._janus.close("kicked");
    if (this.closed) return;
    if (data.publishers) this._onPublishers(data.publishers);
    // the others learn of a kick as {kicked: id}
    for (const gone of [data.unpublished, data.leaving, data.kicked]) {
      if (gone !== undefined && gone !== "ok") this._onFeedGone(gone);
    }
  }

  // ---- publishing ---------------------------------------------------------------------------

  async _publish(stream) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.publisherPc = pc;
    this._trickleFrom(pc, this._pubHandle);
    const tracks = stream?.getTracks() || [];
    const transceivers = tracks.map((track) => [track, pc.addTransceiver(track, { direction: "sendonly", streams: [stream] })]);
    // nothing to send: a data channel still makes this member a feed the others see
    if (!tracks.length) pc.createDataChannel("present");
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    for (const [track, t] of transceivers) this.sent.set(t.mid, track.kind === "audio" ? "microphone" : "camera");
    const descriptions = this._descriptions();
    const answer = await this._janus.message(this._pubHandle, { request: "publish", descriptions },
      { type: offer.type, sdp: offer.sdp });
    await pc.setRemoteDescription(answer.jsep);
    this._markRemoteReady(this._pubHandle);
    return descriptions;
  }

  _descriptions() {
    const on = { microphone: !this.state.muted, camera: !this.state.cameraOff, screen: this.state.sharing };
    return [...this.sent].map(([mid, role]) => ({ mid, description: describe(role, on[role]) }));
  }

  _queuePublisher(step) {
    this._publisherChain = this._publisherChain.then(() => (this.closed ? null : step()));
    const done = this._publisherChain;
    this._publisherChain = done.catch(() => {});
    return done;
  }

  _configure(body) {
    return this._queuePublisher(() => this._configureNow(body));
  }

  _configureNow(body) {
    return this._pubHandle ? this._janus.message(this._pubHandle, { request: "configure", ...body }) : null;
  }

  _trickleFrom(pc, handleId) {
    pc.onicecandidate = ({ candidate }) => this._janus.trickle(handleId, candidate);
  }

  _remoteReadyFor(handleId) {
    if (!this._remoteReady.has(handleId)) {
      let resolve;
      const promise = new Promise((r) => { resolve = r; });
      promise.resolve = resolve;
      this._remoteReady.set(handleId, promise);
    }
    return this._remoteReady.get(handleId);
  }

  _markRemoteReady(handleId) {
    this._remoteReadyFor(handleId).resolve();
  }

  async _onTrickle(msg) {
    await this._remoteReadyFor(msg.sender); // Janus may trickle before its offer is applied
    const pc = msg.sender === this._pubHandle ? this.publisherPc : this.subscriberPc;
    if (!pc || pc.signalingState === "closed") return;
    await pc.addIceCandidate(msg.candidate.completed ? null : msg.candidate).catch(() => {});
  }

  // ---- receiving ------------------------------------------------------------------------------

  /** New publishers, or new streams or descriptions of known ones: subscribe to what is new. */
  _onPublishers(publishers) {
    const wanted = [];
    for (const p of publishers) {
      // ourselves, or an earlier connection of ours the server has not dropped yet
      if (p.id === this._participantId || !p.display || p.display === this.userID) continue;
      const isNew = !this._feeds.has(p.id);
      const streams = new Map((p.streams || []).filter((s) => !s.disabled).map((s) => [s.mid, s]));
      this._feeds.set(p.id, { userID: p.display, streams });
      if (!this.members.has(p.display)) this.members.set(p.display, new SfuMember(p.display));
      if (isNew) {
        wanted.push({ feed: p.id });
        for (const mid of streams.keys()) this._subscribed.add(`${p.id} ${mid}`);
        continue;
      }
      for (const mid of streams.keys()) {
        if (this._subscribed.has(`${p.id} ${mid}`)) continue;
        this._subscribed.add(`${p.id} ${mid}`);
        wanted.push({ feed: p.id, mid });
      }
    }
    this._mapStreams();
    if (!wanted.length) return;
    this._queueSubscriber(async () => {
      if (!this._subHandle) {
        this._subHandle = await this._janus.attach(VIDEOROOM);
        // the room requires the private_id of a participant to subscribe (require_pvtid)
        await this._janus.message(this._subHandle, {
          request: "join", ptype: "subscriber", room: this.room, streams: wanted, private_id: this._privateId,
        });
      } else {
        await this._janus.message(this._subHandle, { request: "subscribe", streams: wanted });
      }
    });
  }

  _onFeedGone(feedId) {
    const feed = this._feeds.get(feedId);
    if (!feed) return;
    this._feeds.delete(feedId);
    for (const key of [...this._subscribed]) if (key.startsWith(`${feedId} `)) this._subscribed.delete(key);
    // Janus turns the feed's m-lines inactive and sends an offer; the member is gone for us now
    if (![...this._feeds.values()].some((f) => f.userID === feed.userID)) this.members.delete(feed.userID);
    this._mapStreams();
  }

  _queueSubscriber(step) {
    this._subscriberChain = this._subscriberChain.then(() => (this.closed ? null : step())).catch((err) => {
      if (!this.closed) console.warn("media: media server", err);
    });
  }

  async _answerOffer(data, offer) {
    if (!this.subscriberPc) {
      const pc = new RTCPeerConnection({ iceServers: this.iceServers });
      this.subscriberPc = pc;
      this._trickleFrom(pc, this._subHandle);
      pc.ontrack = ({ track }) => {
        track.onmute = track.onunmute = () => this._changed();
        this._mapStreams();
      };
      pc.onconnectionstatechange = () => this._onConnectionState();
    }
    const pc = this.subscriberPc;
    this._midSource.clear();
    for (const s of data.streams || []) {
      if (s.active !== false && s.feed_id && this._feeds.has(s.feed_id)) {
        this._midSource.set(s.mid, { feed: s.feed_id, feedMid: s.feed_mid });
      }
    }
    await pc.setRemoteDescription(offer);
    this._markRemoteReady(this._subHandle);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this._janus.message(this._subHandle, { request: "start" }, { type: answer.type, sdp: answer.sdp });
    this._mapStreams();
  }

  _onConnectionState() {
    const state = this.subscriberPc.connectionState;
    if (state === "connected") this.conn = "connected";
    else if (state === "disconnected") this.conn = "reconnecting";
    else if (state === "failed") this.conn = "failed";
    for (const member of this.members.values()) member.conn = this.conn;
    this._changed();
  }

  /** Rebuild each member's streams and state from the current mids (Janus reuses m-lines). */
  _mapStreams() {
    const tracks = new Map([...this.members.keys()].map((userID) => [userID, { stream: [], screen: [] }]));
    for (const t of this.subscriberPc?.getTransceivers() || []) {
      const source = t.mid && this._midSource.get(t.mid);
      const feed = source && this._feeds.get(source.feed);
      if (!feed || !tracks.has(feed.userID) || !t.receiver.track) continue;
      const role = this._role(feed.streams.get(source.feedMid));
      tracks.get(feed.userID)[role === "screen" ? "screen" : "stream"].push(t.receiver.track);
    }
    for (const [userID, member] of this.members) {
      const on = new Map(); // role -> whether its description says it is on
      for (const feed of this._feeds.values()) {
        if (feed.userID !== userID) continue;
        for (const s of feed.streams.values()) on.set(this._role(s), !(s.description || "").includes(" "));
      }
      member.remote = { muted: !on.get("microphone"), cameraOff: !on.get("camera"), sharing: Boolean(on.get("screen")) };
      member.conn = this.conn;
      setTracks(member.stream, tracks.get(userID).stream);
      setTracks(member.screen, tracks.get(userID).screen);
    }
    this._changed();
  }

  _role(stream) {
    if (!stream) return "none";
    const said = (stream.description || "").split(" ")[0];
    if (["microphone", "camera", "screen"].includes(said)) return said;
    return stream.type === "audio" ? "microphone" : stream.type === "video" ? "camera" : "data";
  }

  _changed() {
    if (!this.closed) this.dispatchEvent(new CustomEvent("change"));
  }

  _close(reason) {
    this.closed = true;
    for (const pc of [this.publisherPc, this.subscriberPc]) pc?.close();
    this.conn = "failed";
    this.dispatchEvent(new CustomEvent("closed", { detail: { reason } }));
  }
}
