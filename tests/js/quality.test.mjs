// The connection-quality thresholds and grading (static/js/call/media/quality.js), run by
// Node's test runner (tests/site/test_quality_grading.py): each threshold at its boundary,
// getStats() reports read as Chromium writes them, and a member's grade over time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { QUALITY, QualityTracker, grade, measure, median, readStats } from "../../static/js/call/media/quality.js";

const calm = { lossPct: 0, rttMs: 5, jitterMs: 2, packetsPerS: 50 };

test("each threshold: just under it is the better grade, at it the worse", () => {
  for (const key of ["lossPct", "rttMs", "jitterMs"]) {
    assert.equal(grade({ ...calm, [key]: QUALITY.fair[key] - 0.01 }), "good", key);
    assert.equal(grade({ ...calm, [key]: QUALITY.fair[key] }), "fair", key);
    assert.equal(grade({ ...calm, [key]: QUALITY.poor[key] - 0.01 }), "fair", key);
    assert.equal(grade({ ...calm, [key]: QUALITY.poor[key] }), "poor", key);
  }
});

test("the numbers the site grades by", () => {
  assert.deepEqual(QUALITY.fair, { lossPct: 3, rttMs: 300, jitterMs: 30 });
  assert.deepEqual(QUALITY.poor, { lossPct: 10, rttMs: 700, jitterMs: 60 });
  assert.equal(grade(calm), "good");
  assert.equal(grade({ lossPct: 5, rttMs: 800, jitterMs: 0, packetsPerS: 50 }), "poor"); // the worst one counts
});

test("audio that stalls is poor; what is not known does not count", () => {
  assert.equal(grade({ ...calm, packetsPerS: QUALITY.stalledPacketsPerS - 0.1 }), "poor");
  assert.equal(grade({ ...calm, packetsPerS: QUALITY.stalledPacketsPerS }), "good");
  assert.equal(grade({ lossPct: null, rttMs: null, jitterMs: null, packetsPerS: null }), "good");
  assert.equal(grade(null), "unknown");
});

test("median per field, over the known values", () => {
  assert.deepEqual(median([{ ...calm, lossPct: 30 }, { ...calm, lossPct: 1, rttMs: null }, { ...calm, lossPct: 2 }]), {
    lossPct: 2, rttMs: 5, jitterMs: 2, packetsPerS: 50,
  });
});

// A getStats() report as Chromium writes one (the fields read, and some that are not).
function report(stats) {
  return new Map(stats.map((s, i) => [`id${i}`, s]));
}

const audioIn = (received, lost, jitter, trackIdentifier = "a1") => ({
  type: "inbound-rtp", kind: "audio", packetsReceived: received, packetsLost: lost, jitter, trackIdentifier,
});

test("readStats: audio received, RTCP's round trip first, the ICE pair's otherwise", () => {
  const both = readStats(report([
    audioIn(1000, 10, 0.012),
    { type: "inbound-rtp", kind: "video", packetsReceived: 9000, packetsLost: 900, jitter: 0.5, trackIdentifier: "v1" },
    { type: "remote-inbound-rtp", kind: "audio", roundTripTime: 0.25 },
    { type: "candidate-pair", nominated: true, state: "succeeded", currentRoundTripTime: 0.004 },
  ]), { at: 5000 });
  assert.deepEqual(both, { at: 5000, received: 1000, lost: 10, jitterMs: 12, rttMs: 250, inbound: true });
  const pairOnly = readStats(report([
    audioIn(5, 0, 0),
    { type: "candidate-pair", nominated: true, state: "succeeded", currentRoundTripTime: 0.004 },
    { type: "candidate-pair", nominated: false, state: "failed", currentRoundTripTime: 9 },
  ]));
  assert.equal(pairOnly.rttMs, 4);
});

test("readStats on a shared connection counts only the member's tracks", () => {
  const shared = report([audioIn(100, 50, 0.2, "bob-audio"), audioIn(1000, 0, 0.001, "carol-audio")]);
  assert.equal(readStats(shared, { trackIds: ["carol-audio"] }).lost, 0);
  assert.equal(readStats(shared, { trackIds: ["bob-audio"] }).lost, 50);
  assert.equal(readStats(shared, { trackIds: ["dave-audio"] }).inbound, false);
});

test("measure: loss and packet rate over the interval, counters that went down start over", () => {
  const at = (t, received, lost) => ({ at: t, received, lost, jitterMs: 3, rttMs: 40, inbound: true });
  assert.deepEqual(measure(at(0, 1000, 0), at(1000, 1040, 10)), { lossPct: 20, rttMs: 40, jitterMs: 3, packetsPerS: 40 });
  assert.deepEqual(measure(at(0, 1000, 50), at(1000, 10, 0)), { lossPct: null, rttMs: 40, jitterMs: 3, packetsPerS: 0 });
});

test("a member's grade follows the median of the last samples; unstable after a run of poor, stable after a run of better", () => {
  const tracker = new QualityTracker();
  let received = 0;
  let lost = 0;
  let t = 0;
  const second = (lossPct, jitterMs = 2) => {
    t += 1000;
    const l = Math.round(lossPct / 2); // 50 packets a second
    received += 50 - l;
    lost += l;
    return tracker.add({ at: t, received, lost, jitterMs, rttMs: 10, inbound: true });
  };
  second(0);
  for (let i = 0; i < QUALITY.window; i++) second(0);
  assert.equal(tracker.grade, "good");
  second(40); // one bad second: the median still says good
  assert.equal(tracker.grade, "good");
  second(40);
  assert.equal(tracker.grade, "poor");
  assert.equal(tracker.unstable, false);
  for (let i = 1; i < QUALITY.unstableAfter; i++) second(40);
  assert.equal(tracker.unstable, true);
  for (let i = 0; i < QUALITY.window; i++) second(0);
  assert.equal(tracker.grade, "good");
  assert.equal(tracker.unstable, true); // not yet: a run of better grades first
  for (let i = 0; i < QUALITY.stableAfter; i++) second(0);
  assert.equal(tracker.unstable, false);
  for (let i = 0; i < QUALITY.window; i++) second(0, 45); // jitter alone
  assert.equal(tracker.grade, "fair");
});
