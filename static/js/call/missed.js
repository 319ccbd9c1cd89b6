// Missed calls: kept per user in localStorage, each with a call-back button.
import { CallMode } from "../zimclient.js";
import { ME } from "./store.js";
import { chosenTimeout, placeCall } from "./outgoing.js";
import { $, avatar, el, kindText, toast } from "./ui.js";

const KEY = `call.missed.${ME}`;
const KEEP = 20;

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || "[]");
  } catch {
    return [];
  }
}

const missed = { list: load() };

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
}

function missedItem(m) {
  const at = new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return el("li", { class: "missed-item", dataset: { caller: m.from, callId: m.callID } },
    avatar(m.from),
    el("span", { class: "who" },
      el("span", { class: "name" }, m.from),
      el("span", { class: "muted small" }, `${kindText(m.type)} · ${m.why} · ${at}`)),
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
  renderMissed();
}
