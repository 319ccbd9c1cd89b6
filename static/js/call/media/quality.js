// Connection quality from RTCPeerConnection.getStats(), the same for a mesh connection to
// one member and for a media server's connection that carries several (pass the member's
// track ids): packet loss and jitter of the audio received from the member, and the round
// trip (RTCP's, else the ICE pair's). Graded good / fair / poor; the thresholds are here and
// nowhere else. No DOM: Node's test runner imports this module (tests/js/quality.test.mjs).
//
// Audio is what is measured: Opus sends a steady ~50 packets a second (a muted microphone
// still sends silence frames), while video bursts and is repaired by retransmission.

export const QUALITY = Object.freeze({
  sampleMs: 1000, // getStats() period while in a call
  window: 3, // grade the median of the last 3 samples: one bad second flags nobody
  fair: Object.freeze({ lossPct: 3, rttMs: 300, jitterMs: 30 }), // any one reached: fair
  poor: Object.freeze({ lossPct: 10, rttMs: 700, jitterMs: 60 }), // any one reached: poor
  stalledPacketsPerS: 5, // audio arriving slower than this: poor (the network, not the microphone)
  unstableAfter: 3, // poor grades in a row before "bob's connection is unstable" shows
  stableAfter: 5, // better grades in a row before it goes
});

export const GRADES = Object.freeze(["good", "fair", "poor"]);

/** The grade of one measurement {lossPct, rttMs, jitterMs, packetsPerS} (a null field: not known). */
export function grade(m, q = QUALITY) {
  if (!m) return "unknown";
  if (m.packetsPerS !== null && m.packetsPerS !== undefined && m.packetsPerS < q.stalledPacketsPerS) return "poor";
  const reaches = (limits) => ["lossPct", "rttMs", "jitterMs"].some((k) => m[k] !== null && m[k] !== undefined
    && m[k] >= limits[k]);
  if (reaches(q.poor)) return "poor";
  if (reaches(q.fair)) return "fair";
  return "good";
}

function medianOf(values) {
  const known = values.filter((v) => v !== null && v !== undefined).sort((a, b) => a - b);
  if (!known.length) return null;
  const mid = Math.floor(known.length / 2);
  return known.length % 2 ? known[mid] : (known[mid - 1] + known[mid]) / 2;
}

/** Each field's median over some measurements (fields nobody knew stay null). */
export function median(measurements) {
  const out = {};
  for (const key of ["lossPct", "rttMs", "jitterMs", "packetsPerS"]) out[key] = medianOf(measurements.map((m) => m[key]));
  return out;
}

/** What one getStats() report says now: cumulative audio counters received (optionally only
 * of `trackIds`, the member's tracks on a shared connection), jitter, and the round trip. */
export function readStats(report, { trackIds = null, at = Date.now() } = {}) {
  const reading = { at, received: 0, lost: 0, jitterMs: null, rttMs: null, inbound: false };
  let pairRtt = null;
  for (const s of report.values()) {
    if (s.type === "inbound-rtp" && s.kind === "audio" && (!trackIds || trackIds.includes(s.trackIdentifier))) {
      reading.inbound = true;
      reading.received += s.packetsReceived || 0;
      reading.lost += Math.max(0, s.packetsLost || 0);
      if (typeof s.jitter === "number") reading.jitterMs = Math.max(reading.jitterMs ?? 0, s.jitter * 1000);
    } else if (s.type === "remote-inbound-rtp" && typeof s.roundTripTime === "number") {
      // RTCP's round trip follows a change of the network mid-call; the ICE pair's may not
      reading.rttMs = Math.max(reading.rttMs ?? 0, s.roundTripTime * 1000);
    } else if (s.type === "candidate-pair" && (s.nominated || s.selected) && s.state === "succeeded"
      && typeof s.currentRoundTripTime === "number") {
      pairRtt = s.currentRoundTripTime * 1000;
    }
  }
  if (reading.rttMs === null) reading.rttMs = pairRtt;
  return reading;
}

/** A measurement between two readings of the same connection: loss and packet rate over the interval. */
export function measure(before, after) {
  const seconds = (after.at - before.at) / 1000;
  // counters that go down (a receiver replaced, an SSRC changed) start over
  const received = Math.max(0, after.received - before.received);
  const lost = Math.max(0, after.lost - before.lost);
  return {
    lossPct: received + lost > 0 ? (100 * lost) / (received + lost) : null,
    rttMs: after.rttMs,
    jitterMs: after.jitterMs,
    packetsPerS: after.inbound && seconds > 0 ? received / seconds : null,
  };
}

/** The readings of `pc` now (see readStats). */
export async function readConnection(pc, options = {}) {
  return readStats(await pc.getStats(), options);
}

/** One member's quality over time: add() a reading each sample; it answers the grade (of the
 * median of the last `window` measurements) and whether the member counts as unstable. */
export class QualityTracker {
  constructor(q = QUALITY) {
    this.q = q;
    this.last = null;
    this.measurements = [];
    this.grade = "unknown";
    this.unstable = false;
    this.poorRun = 0;
    this.betterRun = 0;
    this.summary = null;
  }

  add(reading) {
    const before = this.last;
    this.last = reading;
    if (!before) return this;
    this.measurements.push(measure(before, reading));
    if (this.measurements.length > this.q.window) this.measurements.shift();
    if (this.measurements.length < this.q.window) return this;
    this.summary = median(this.measurements);
    this.grade = grade(this.summary, this.q);
    if (this.grade === "poor") {
      this.poorRun += 1;
      this.betterRun = 0;
      if (this.poorRun >= this.q.unstableAfter) this.unstable = true;
    } else {
      this.betterRun += 1;
      this.poorRun = 0;
      if (this.betterRun >= this.q.stableAfter) this.unstable = false;
    }
    return this;
  }
}
