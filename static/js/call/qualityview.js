// The connection-quality mark on each member's tile (three bars, data-quality="good|fair|poor|
// unknown"), and a short line while a member's network is poor ("bob's connection is unstable").
// Measured here, every QUALITY.sampleMs, on what this side receives from each member
// (media/quality.js grades it). A media session that carries several members on one
// connection (the media server's) says which tracks are whose: session.qualitySources().
import { ME, on } from "./store.js";
import { media } from "./media/index.js";
import { QUALITY, QualityTracker, readConnection } from "./media/quality.js";
import { $, el } from "./ui.js";
import { qualityWords as words } from "./words.js";

const followed = new Map(); // userID -> {pc, tracker}
const sampling = { timer: null, busy: false };

/** [{userID, pc, trackIds}]: whom to measure now, and where. */
const sources = (session) => session.qualitySources();

async function sample() {
  const session = media.session;
  if (!session || sampling.busy) return;
  sampling.busy = true;
  try {
    const now = new Map(sources(session).map((s) => [s.userID, s]));
    for (const [userID, entry] of followed) {
      if (now.get(userID)?.pc !== entry.pc) followed.delete(userID); // gone, or a new connection: start over
    }
    await Promise.all([...now.values()].map(async ({ userID, pc, trackIds }) => {
      if (!followed.has(userID)) followed.set(userID, { pc, tracker: new QualityTracker() });
      const reading = await readConnection(pc, { trackIds }).catch(() => null); // closed meanwhile
      if (reading) followed.get(userID)?.tracker.add(reading);
    }));
  } finally {
    sampling.busy = false;
  }
  render();
}

function markOf(tile) {
  let mark = tile.querySelector(".quality-mark");
  if (!mark) {
    mark = el("span", { class: "quality-mark", role: "img" }, el("i"), el("i"), el("i"));
    tile.querySelector("figcaption")?.append(mark);
  }
  return mark;
}

const round = (v) => (v === null ? "?" : String(Math.round(v)));

function render() {
  for (const tile of $("#media-tiles")?.querySelectorAll("[data-tile]") ?? []) {
    const userID = tile.dataset.tile;
    if (userID === ME) continue;
    const tracker = followed.get(userID)?.tracker;
    const grade = tracker?.grade ?? "unknown";
    if (tile.dataset.quality !== grade) tile.dataset.quality = grade;
    const mark = markOf(tile);
    const text = words.mark(grade);
    const summary = tracker?.summary;
    const title = summary ? `${text} · ${words.detail(round(summary.rttMs), round(summary.lossPct), round(summary.jitterMs))}` : text;
    if (mark.getAttribute("aria-label") !== text) mark.setAttribute("aria-label", text);
    if (mark.title !== title) mark.title = title;
  }
  const unstable = [...followed].filter(([, entry]) => entry.tracker.unstable).map(([userID]) => userID);
  const note = $("#quality-note");
  const text = unstable.map((userID) => words.unstable(userID)).join(" · ");
  if (note.textContent !== text) note.textContent = text;
  note.hidden = !unstable.length;
}

function follow() {
  if (media.session && !sampling.timer) {
    sampling.timer = setInterval(sample, QUALITY.sampleMs);
  } else if (!media.session && sampling.timer) {
    clearInterval(sampling.timer);
    sampling.timer = null;
    followed.clear();
  }
  render();
}

export function initQuality() {
  on("media", follow);
  on("stage", follow);
}
