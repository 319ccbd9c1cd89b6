// Do not disturb: the status control in the page's status line (Available, or do not
// disturb for an hour, until tomorrow morning, or until turned off), and the badge that
// counts invitations waiting quietly. The server makes invitations silent while the
// user is in dnd (incoming.js shows them without sound or notification); a dnd with an
// end time ends by itself: the page reads the status again at that time, on every
// connection and when the tab comes back into view (another device may have changed it).
import { changed, on, store, updateCall, zim } from "./store.js";
import { $, errorText, toast } from "./ui.js";
import { statusWords as words } from "./words.js";
import { clockTime, dateAndTime } from "./intl.js";

const HOUR_MS = 3600 * 1000;
const MORNING_HOUR = 8; // "until tomorrow": tomorrow at 08:00, local time
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit; a longer wait reads again and waits again
const AFTER_UNTIL_MS = 500; // read a little after `until`, so the server's clock has passed it too

const status = { status: "available", until: null, timer: null };

/** Tomorrow at MORNING_HOUR, local time, in ms. */
export function tomorrowMorning(now = new Date()) {
  const at = new Date(now);
  at.setDate(at.getDate() + 1);
  at.setHours(MORNING_HOUR, 0, 0, 0);
  return at.getTime();
}

const timeOf = clockTime;

function statusText() {
  if (status.status !== "dnd") return words.available();
  if (!status.until) return words.dnd();
  const at = new Date(status.until);
  const today = new Date();
  const tomorrow = new Date(today);
  tomorrow.setDate(today.getDate() + 1);
  if (at.toDateString() === today.toDateString()) return words.dndUntil(timeOf(status.until));
  if (at.toDateString() === tomorrow.toDateString()) return words.dndUntilTomorrow(timeOf(status.until));
  return words.dndUntil(dateAndTime(status.until));
}

function render() {
  const pill = $("#status-pill");
  pill.dataset.status = status.status;
  pill.textContent = statusText();
  $("#status-menu").dataset.status = status.status;
}

/** The server's answer ({status, until}): show it, and read again once `until` has passed. */
function show(answer) {
  const wasDnd = status.status === "dnd";
  status.status = answer.status;
  status.until = answer.until;
  clearTimeout(status.timer);
  if (status.status === "dnd" && status.until) {
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, status.until - zim.serverNow()) + AFTER_UNTIL_MS);
    status.timer = setTimeout(read, wait);
  }
  if (status.status === "dnd" && !wasDnd) quietRinging();
  render();
}

function read() {
  zim.queryUserStatus().then(show).catch(() => {
    // not connected: the next connection reads it
  });
}

/** Turning dnd on silences what rings here now, as the server silences what comes next. */
function quietRinging() {
  const loud = store.ringing.map((id) => store.calls.get(id)).filter((call) => call && !call.silent);
  for (const call of loud) updateCall(call, { silent: true });
  if (loud.length) changed("ringing");
}

async function choose(choice) {
  const until = { hour: () => zim.serverNow() + HOUR_MS, tomorrow: () => tomorrowMorning() }[choice]?.() ?? null;
  $("#status-menu").open = false;
  try {
    show(await zim.setUserStatus(choice === "available" ? "available" : "dnd", until));
  } catch (err) {
    toast(words.couldNotSet(errorText(err)), "bad");
  }
}

function renderQuietCount() {
  const n = store.ringing.filter((id) => store.calls.get(id)?.silent).length;
  const badge = $("#quiet-count");
  badge.hidden = n === 0;
  $("#quiet-count-n").textContent = String(n);
  badge.setAttribute("aria-label", words.quietCount(n));
  badge.title = words.quietCount(n);
}

export function initDnd() {
  for (const button of document.querySelectorAll("[data-status-choice]")) {
    button.addEventListener("click", () => choose(button.dataset.statusChoice));
  }
  zim.on("connectionStateChanged", ({ state }) => { if (state === "connected") read(); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) read(); });
  on("ringing", renderQuietCount);
  render();
  renderQuietCount();
}
