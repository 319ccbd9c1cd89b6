// The media session's link to the call's media server, while the server answers
// queryMediaSession with topology "sfu": one SfuClient in the room the server named, its
// token swapped for a fresh one before it expires, a new join after a lost connection
// (on whichever server the site names then), and the hand-over from the mesh: each peer
// connection stays until that member's media arrives through the server, so moving a
// call to the server costs at most a moment of sound.
import { ME, changed, zim } from "../store.js";
import { debug } from "./peer.js";
import { SfuClient } from "./sfu.js";

const HANDOVER_MAX_MS = 10000; // a member who sends nothing: its peer connection goes after this
const REJOIN_FIRST_MS = 1000;
const REJOIN_MAX_MS = 15000;
const REFRESH_MIN_MS = 1000;
const REFRESH_RETRY_MS = 2000; // a token asked for and not received: ask again this soon
const ENDED = new Set(["kicked", "destroyed", "left"]); // removed by the site, or by us: no new join

/** A member the server has not shown yet: a tile that says "Connecting…". */
class AwaitedMember {
  constructor(userID) {
    this.userID = userID;
    this.stream = new MediaStream();
    this.screen = new MediaStream();
    this.remote = { muted: true, cameraOff: true, sharing: false };
    this.conn = "connecting";
    this.speaking = false;
    this.loudAt = 0;
  }
}

export class ServerLink {
  constructor(session) {
    this.session = session;
    this.client = null;
    this.info = null; // {url, room, token, iceServers, expiresAt}
    this.ended = null; // "kicked" | "destroyed": the site removed this member
    this.closed = false;
    this.failures = 0;
    this.awaited = new Map();
    this.refreshTimer = null;
    this.rejoinTimer = null;
    this.handOverTimer = null;
  }

  /** The server's answer (`sfu` of queryMediaSession): join, or swap the token, or move. */
  use(info) {
    if (this.closed) return;
    this.info = info;
    clearTimeout(this.refreshTimer);
    // a fresh token well before this one stops being accepted (the server's clock: expiresAt is its time)
    const left = info.expiresAt - zim.serverNow();
    debug("media server", info.url, "room", info.room, "token for", Math.round(left / 1000), "s");
    this.refreshTimer = setTimeout(() => this._refresh(info), Math.max(REFRESH_MIN_MS, left / 2));
    const client = this.client;
    if (client && !client.closed && client.url === info.url && client.room === info.room) {
      client.setToken(info.token);
      return;
    }
    if (this.ended) return;
    this._connect();
  }

  async _refresh(info) {
    await this.session.ask();
    // no fresh token (no answer, or a refusal): ask again soon, while this one still works
    if (this.info === info && !this.closed) this.refreshTimer = setTimeout(() => this._refresh(info), REFRESH_RETRY_MS);
  }

  async _connect() {
    clearTimeout(this.rejoinTimer);
    this._drop();
    const { url, room, token, iceServers } = this.info;
    const client = new SfuClient({ url, room, token, iceServers: iceServers || this.session.iceServers, userID: ME });
    this.client = client;
    client.addEventListener("change", () => {
      if (client !== this.client) return;
      this.handOver();
      changed("media");
    });
    client.addEventListener("closed", ({ detail }) => this._lost(client, detail.reason));
    await this.session.ready;
    if (client !== this.client || this.closed) return;
    try {
      await client.join(this.session.local, this.session.publishedState());
      if (this.session.screen) await client.shareScreen(this.session.screen, this.session.screenStream);
      this.failures = 0;
      clearTimeout(this.handOverTimer);
      this.handOverTimer = setTimeout(() => this.handOver(true), HANDOVER_MAX_MS);
    } catch (err) {
      if (client !== this.client || client.closed) return; // _lost decides
      console.warn("media: joining the media server", this.info.url, err.code || "", err.message);
      this.client = null;
      client.leave();
      this._rejoinLater();
    }
    changed("media");
  }

  _lost(client, reason) {
    if (client !== this.client || this.closed) return;
    debug("media server connection closed:", reason);
    if (ENDED.has(reason)) {
      this.ended = reason; // the page hears why from the call's events
      changed("media");
      return;
    }
    this.client = null;
    this._rejoinLater();
    changed("media");
  }

  /** The connection or the server went away: ask the site again (it may name another server). */
  _rejoinLater() {
    this.failures += 1;
    const wait = Math.min(REJOIN_MAX_MS, REJOIN_FIRST_MS * 2 ** (this.failures - 1));
    clearTimeout(this.rejoinTimer);
    this.rejoinTimer = setTimeout(async () => {
      await this.session.ask();
      if (!this.client && !this.closed && !this.ended && this.info) this._connect();
    }, wait);
  }

  /** Close each mesh connection whose member reaches us through the server (all of them: `all`). */
  handOver(all = false) {
    const session = this.session;
    for (const userID of [...session.peers.keys()]) {
      if (all || this.client?.receivingFrom(userID)) session.closePeer(userID);
    }
  }

  /** What the tiles show for userID: the server's member, else a member on its way. */
  memberFor(userID) {
    const member = this.client?.members.get(userID);
    if (member) {
      this.awaited.delete(userID);
      return member;
    }
    if (!this.awaited.has(userID)) this.awaited.set(userID, new AwaitedMember(userID));
    const awaited = this.awaited.get(userID);
    awaited.conn = this.client && !this.client.closed ? "connecting" : "reconnecting";
    return awaited;
  }

  receivingFrom(userID) {
    return Boolean(this.client?.receivingFrom(userID));
  }

  setState(state) {
    this.client?.setState(state).catch(() => {});
  }

  replaceTrack(kind, track) {
    return this.client?.replaceTrack(kind, track);
  }

  // before the join is done, the join shares (or not) what the session shares then
  shareScreen(track, stream) {
    return this.client?.joined ? this.client.shareScreen(track, stream) : null;
  }

  stopScreen() {
    return this.client?.joined ? this.client.stopScreen() : null;
  }

  _drop() {
    const client = this.client;
    this.client = null;
    if (client && !client.closed) client.leave();
  }

  close() {
    this.closed = true;
    for (const timer of [this.refreshTimer, this.rejoinTimer, this.handOverTimer]) clearTimeout(timer);
    this._drop();
  }
}
