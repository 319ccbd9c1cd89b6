// Janus's WebSocket API, as much as the call's media needs: one session (created with
// the member's token, kept alive), requests matched to their answers by transaction,
// plugin handles, plugin messages answered by an event of the same transaction.
// Everything else Janus sends (events, trickled candidates, hangups, the session's
// timeout) goes to `onEvent`; a closed socket to `onClose`.

const KEEPALIVE_MS = 25000;
const REQUEST_TIMEOUT_MS = 15000;

export class JanusConnection {
  constructor({ url, token, onEvent, onClose }) {
    Object.assign(this, { url, token, onEvent, onClose });
    this.sessionId = null;
    this.closed = false;
    this._ws = null;
    this._pending = new Map(); // transaction -> {resolve, reject, waitEvent, timer}
    this._nextTransaction = 1;
    this._keepalive = null;
  }

  /** Connect and create the session. */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, "janus-protocol");
      this._ws = ws;
      ws.onmessage = (event) => this._onMessage(JSON.parse(event.data));
      ws.onclose = () => this.close("socket");
      ws.onerror = () => reject(new Error(`cannot reach ${this.url}`));
      ws.onopen = async () => {
        try {
          this.sessionId = (await this.request({ janus: "create" })).data.id;
          this._keepalive = setInterval(() => this.request({ janus: "keepalive" }).catch(() => {}), KEEPALIVE_MS);
          resolve();
        } catch (err) {
          reject(err);
        }
      };
    });
  }

  request(body, handleId = null, waitEvent = false) {
    if (this.closed) return Promise.reject(new Error("closed"));
    const transaction = `t${this._nextTransaction++}`;
    const message = { ...body, transaction, token: this.token };
    if (this.sessionId && body.janus !== "create") message.session_id = this.sessionId;
    if (handleId) message.handle_id = handleId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(transaction);
        reject(new Error(`no answer to ${body.janus}`));
      }, REQUEST_TIMEOUT_MS);
      this._pending.set(transaction, { resolve, reject, waitEvent, timer });
      this._ws.send(JSON.stringify(message));
    });
  }

  async attach(plugin) {
    return (await this.request({ janus: "attach", plugin })).data.id;
  }

  /** A plugin request, answered by an event of the same transaction: {data, jsep}. */
  async message(handleId, body, jsep = null) {
    const message = { janus: "message", body };
    if (jsep) message.jsep = jsep;
    const answer = await this.request(message, handleId, true);
    const data = answer.plugindata ? answer.plugindata.data : {};
    if (data.error_code) {
      const err = new Error(data.error);
      err.code = data.error_code; // VideoRoom: 433 not allowed, 426 no such room
      throw err;
    }
    return { data, jsep: answer.jsep || null };
  }

  /** Send a local ICE candidate (null: gathering is complete). */
  trickle(handleId, candidate) {
    const body = candidate
      ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex }
      : { completed: true };
    if (!this.closed) this.request({ janus: "trickle", candidate: body }, handleId).catch(() => {});
  }

  /** Destroy the session (the server drops our handles at once), then close. */
  async destroy() {
    try {
      if (this.sessionId) await this.request({ janus: "destroy" });
    } catch {
      // the socket may already be gone; closing is what matters
    }
    this.close("left");
  }

  close(reason) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this._keepalive);
    for (const { reject, timer } of this._pending.values()) {
      clearTimeout(timer);
      reject(new Error(`closed: ${reason}`));
    }
    this._pending.clear();
    if (this._ws && this._ws.readyState <= 1) this._ws.close();
    this.onClose(reason);
  }

  _onMessage(msg) {
    const pending = msg.transaction && this._pending.get(msg.transaction);
    if (pending) {
      if (msg.janus === "ack" && pending.waitEvent) return;
      this._pending.delete(msg.transaction);
      clearTimeout(pending.timer);
      if (msg.janus === "error") {
        const err = new Error(msg.error.reason);
        err.code = msg.error.code; // 403: a bad or expired token
        pending.reject(err);
      } else {
        pending.resolve(msg);
      }
      // an offer that answers a request is still an offer to handle
      if (!(msg.janus === "event" && msg.jsep)) return;
    }
    if (msg.janus === "timeout") {
      this.close("timeout");
      return;
    }
    this.onEvent(msg);
  }
}
