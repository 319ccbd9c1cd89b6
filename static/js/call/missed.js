// Missed calls: read from the server's list of the user's calls (queryCallInvitationList,
// page by page with nextFlag), so a call missed while offline or on another device shows
// here too. Each has a call-back button and, once the call is over, who answered it and
// how long it lasted. A missed call goes once the user has talked with that person since
// (called them, or answered them), on any device; "Dismiss" hides one on this device.
import { CallMode, CallState, CallUserState as S } from "../zimclient.js";
import { ME, PENDING, learnNames, nameOf, zim } from "./store.js";
import { placeCall } from "./outgoing.js";
import { $, avatar, chosenTimeout, el, toast } from "./ui.js";
import { missedCountText, missedToast, missedWords as words } from "./words.js";
import { callLength, clockTime } from "./intl.js";

/** This user's dismissed missed calls, in localStorage (the key is set by initMissed). */
const hiddenKey = { name: "" };
const KEEP = 20; // missed calls shown
const PAGES = 5; // of 50 calls each, read at most per refresh
const REFRESH_MS = 20000; // while a missed call is still going somewhere

function loadHidden() {
  try {
    return new Set(JSON.parse(localStorage.getItem(hiddenKey.name) || "[]"));
  } catch {
    return new Set();
  }
}

const missed = { list: [], hidden: new Set(), timer: null, loading: null, again: false, shown: false };

function hide(callIDs) {
  for (const id of callIDs) missed.hidden.add(id);
  localStorage.setItem(hiddenKey.name, JSON.stringify([...missed.hidden].slice(-200)));
  missed.list = missed.list.filter((m) => !missed.hidden.has(m.callID));
  renderMissed();
}

/** Why a call counts as missed, from this user's member state in it (its words: missedWords.why);
 * "" when it is not missed. */
export function missedWhy(info, mine) {
  if (!mine || info.caller === ME) return "";
  if (mine.state === S.Timeout) return "timeout";
  if (mine.state === S.Cancelled) return mine.reason === "caller_offline" ? "caller_offline" : "cancelled";
  if (PENDING.has(mine.state) && info.state === CallState.Ended) return "ended";
  return "";
}

/** " · answered by bob · 1:05", " · nobody answered", or "" (nobody answered yet). */
function detailText(m) {
  const detail = words.detail(m.answered, m.over ? callLength(m.lasted) : null);
  return detail ? ` · ${detail}` : "";
}

// ---- from the server's list ----

function typeOf(info) {
  try {
    return JSON.parse(info.extendedData || "{}").type === "voice" ? "voice" : "video";
  } catch {
    return "video";
  }
}

function entryOf(info, why) {
  const over = info.state === CallState.Ended;
  return {
    callID: info.callID,
    from: info.inviter || info.caller,
    type: typeOf(info),
    why,
    at: info.createTime,
    answered: info.callUserList.filter((u) => u.userID !== info.caller && u.userID !== ME
      && (u.state === S.Accepted || u.state === S.Quit)).map((u) => u.userID),
    over,
    lasted: over && info.connectTime ? info.endTime - info.connectTime : 0,
  };
}

/** The missed calls in the user's calls (newest first), minus those talked over since. */
async function readMissed() {
  const found = [];
  const talkedSince = new Set(); // people this user called, or answered, after (newer than) a call
  let nextFlag = 0;
  for (let page = 0; page < PAGES && found.length < KEEP; page++) {
    const { callList, nextFlag: next } = await zim.queryCallInvitationList({ count: 50, nextFlag });
    for (const info of callList) {
      learnNames(info.userNames);
      const mine = info.callUserList.find((u) => u.userID === ME);
      const why = missedWhy(info, mine);
      if (why) {
        const entry = entryOf(info, why);
        if (!talkedSince.has(entry.from) && !missed.hidden.has(info.callID)) found.push(entry);
      } else if (info.caller === ME) {
        for (const u of info.callUserList) talkedSince.add(u.userID);
      } else if (mine && (mine.state === S.Accepted || mine.state === S.Quit)) {
        talkedSince.add(info.inviter || info.caller);
      }
    }
    if (!next) break;
    nextFlag = next;
  }
  return found.slice(0, KEEP);
}

/** Read the list again (one read at a time; a request meanwhile reads once more after it). */
export async function refreshMissed() {
  if (missed.loading) {
    missed.again = true;
    return missed.loading;
  }
  missed.loading = (async () => {
    do {
      missed.again = false;
      try {
        missed.list = await readMissed();
      } catch {
        // not connected: the next connection reads it
      }
    } while (missed.again);
    missed.loading = null;
    renderMissed();
  })();
  return missed.loading;
}

/** An invitation of this tab stopped ringing unanswered: say so, and read the list again. */
export function addMissed(call) {
  toast(missedToast(call.inviter || call.caller, call.type), "warn");
  if (missed.shown) setTimeout(refreshMissed, 300); // the panel is the site page's (initMissed), not the kit's
}

// ---- the panel ----

function missedItem(m) {
  const at = clockTime(m.at);
  return el("li", { class: "missed-item", dataset: { caller: m.from, callId: m.callID } },
    avatar(m.from),
    el("span", { class: "who" },
      el("span", { class: "name" }, nameOf(m.from)),
      el("span", { class: "muted small" }, words.line(m.type, m.why, at)),
      el("span", { class: "muted small missed-detail" }, detailText(m))),
    el("button", {
      type: "button", class: "btn small success", "aria-label": words.callBackLabel(m.from),
      onclick: async (ev) => {
        ev.target.disabled = true;
        const ok = await placeCall([m.from], { type: m.type, mode: CallMode.Advanced, timeout: chosenTimeout() }, $("#call-error"));
        if (ok) refreshMissed(); // the new call to them clears their missed calls
        ev.target.disabled = false;
      },
    }, words.callBackLabel(m.from)), // the name in the text too: what is read out is what is seen
    el("button", {
      type: "button", class: "link small", "aria-label": words.dismissLabel(m.from),
      onclick: () => hide([m.callID]),
    }, words.dismiss()));
}

function countBadge() {
  let badge = $("#missed-count");
  if (!badge) {
    badge = el("span", { id: "missed-count", class: "badge bad", role: "status" });
    $("#missed-title").append(" ", badge);
  }
  return badge;
}

function renderMissed() {
  const n = missed.list.length;
  $("#missed-list").replaceChildren(...missed.list.map(missedItem));
  $("#missed-empty").hidden = n > 0;
  $("#missed-clear").hidden = n === 0;
  const badge = countBadge();
  badge.hidden = n === 0;
  badge.textContent = String(n);
  badge.setAttribute("aria-label", missedCountText(n));
}

export function initMissed() {
  missed.shown = true;
  hiddenKey.name = `call.missed.hidden.${ME}`;
  missed.hidden = loadHidden();
  $("#missed-clear").addEventListener("click", () => hide(missed.list.map((m) => m.callID)));
  zim.on("connectionStateChanged", ({ state }) => {
    clearInterval(missed.timer);
    if (state !== "connected") return;
    refreshMissed();
    missed.timer = setInterval(() => { if (missed.list.some((m) => !m.over)) refreshMissed(); }, REFRESH_MS);
  });
  renderMissed();
}
