// Commands paced under the server's per-socket limit (PROTOCOL "Limits (version 3)"): a token
// bucket like the server's, so that what goes past the burst waits its turn instead of being
// refused `rate_limited`. One per socket; the client (zimclient.js) hands it each command's text.

// Kept below the server's burst: commands that leave paced may arrive bunched.
const BURST_MARGIN = 4;

export class CommandPacer {
  /** perSecond: the server's refill rate (0: no pacing); burst: its bucket size; send(text). */
  constructor({ perSecond, burst, send }) {
    this.perSecond = perSecond;
    this.burst = burst;
    this.send = send;
    this.waiting = []; // [{id, text}]
    this.tokens = 0;
    this.at = 0;
    this.timer = null;
  }

  /** A new socket: the server's bucket for it starts full. */
  reset() {
    this.clear();
    this.tokens = this.size();
    this.at = performance.now();
  }

  size() {
    return Math.max(1, this.burst - BURST_MARGIN);
  }

  push(id, text) {
    this.waiting.push({ id, text });
    this.drain();
  }

  /** A command that gave up waiting is never sent late. */
  drop(id) {
    this.waiting = this.waiting.filter((queued) => queued.id !== id);
  }

  clear() {
    this.waiting = [];
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Send what the pace allows now; come back when the next token is due. */
  drain() {
    clearTimeout(this.timer);
    this.timer = null;
    const rate = this.perSecond;
    const now = performance.now();
    if (rate > 0) {
      this.tokens = Math.min(this.size(), this.tokens + ((now - this.at) / 1000) * rate);
      this.at = now;
    }
    while (this.waiting.length && (rate <= 0 || this.tokens >= 1)) {
      this.send(this.waiting.shift().text);
      this.tokens -= 1;
    }
    if (this.waiting.length) this.timer = setTimeout(() => this.drain(), Math.ceil(((1 - this.tokens) / rate) * 1000));
  }
}
