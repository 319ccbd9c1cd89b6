// Missed calls: kept per user in localStorage, each with a call-back button, and,
// once the call is over, how long it lasted and who answered it (from queryCall).
import { CallMode, CallState, CallUserState as S } from "../zimclient.js";
import { ME, zim } from "./store.js";
import { chosenTimeout, placeCall } from "./outgoing.js";
import { $, avatar, el, kindText, toast } from "./ui.js";

const KEY = `call.missed.${ME}`;
const KEEP = 20;
const REFRESH_MS = 20000;

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || "[]");
  } catch {
    return [];
  }
}

const missed = { list: load(), timer: null };

function save(list) {
  missed.list = list;
  localStorage.setItem(KEY, JSON.stringify(list.slice(0, KEEP)));
  renderMissed();
}

const without = (entry) => missed.list.filter((x) => x !== entry);

export function addMissed(call, why) {
  if (missed.list.some((m) => m.callID === call.callID)) return;
  const from = call.inviter || call.caller;
  save([{ callID: call.callID, from, type: call.type || "video", why, at: Date.now() }, ...missed.list]);
  toast(`Missed ${kindText(call.type)} call from ${from}`, "warn");
  setTimeout(refreshDetails, 1500);
}

/** "1:05" */
export function duration(ms) {
  const secs = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(secs / 3600);
  const mm = Math.floor(secs / 60) % 60;
  const ss = String(secs % 60).padStart(2, "0");
  return h ? `${h}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** Who answered the call and how long it lasted, once it is over (members may still talk after I missed it). */
async function refreshDetails() {
  let changedAny = false;
  for (const m of missed.list.filter((x) => !x.over)) {
    try {
      const info = await zim.queryCall(m.callID);
      const answered = info.callUserList.filter((u) => u.userID !== info.caller && u.userID !== ME
        && (u.state === S.Accepted || u.state === S.Quit)).map((u) => u.userID);
      m.answered = answered;
      m.over = info.state === CallState.Ended;
      m.lasted = m.over && info.connectTime ? info.endTime - info.connectTime : 0;
      changedAny = true;
    } catch {
      m.over = true; // gone
      changedAny = true;
    }
  }
  if (changedAny) save(missed.list);
}

function detailText(m) {
  if (!m.answered) return "";
  if (!m.answered.length) return m.over ? " · nobody answered" : "";
  return ` · answered by ${m.answered.join(", ")}` + (m.over ? ` · ${duration(m.lasted)}` : " · still going");
}

function missedItem(m) {
  const at = new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return el("li", { class: "missed-item", dataset: { caller: m.from, callId: m.callID } },
    avatar(m.from),
    el("span", { class: "who" },
      el("span", { class: "name" }, m.from),
      el("span", { class: "muted small" }, `${kindText(m.type)} · ${m.why} · ${at}`),
      el("span", { class: "muted small missed-detail" }, detailText(m))),
    el("button", {
      type: "button", class: "btn small success", "aria-label": `Call ${m.from} back`,
      onclick: async (ev) => {
        ev.target.disabled = true;
        const ok = await placeCall([m.from], { type: m.type, mode: CallMode.Advanced, timeout: chosenTimeout() }, $("#call-error"));
        if (ok) save(without(m));
        ev.target.disabled = false;
      },
    }, "Call back"),
    el("button", {
      type: "button", class: "link small", "aria-label": `Dismiss the missed call from ${m.from}`,
      onclick: () => save(without(m)),
    }, "Dismiss"));
}

function renderMissed() {
  $("#missed-list").replaceChildren(...missed.list.map(missedItem));
  $("#missed-empty").hidden = missed.list.length > 0;
  $("#missed-clear").hidden = missed.list.length === 0;
}

export function initMissed() {
  $("#missed-clear").addEventListener("click", () => save([]));
  zim.on("connectionStateChanged", ({ state }) => {
    clearInterval(missed.timer);
    if (state !== "connected") return;
    refreshDetails();
    missed.timer = setInterval(() => { if (missed.list.some((m) => !m.over)) refreshDetails(); }, REFRESH_MS);
  });
  renderMissed();
}
