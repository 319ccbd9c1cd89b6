// This browser's settings (localStorage) and the Settings panel.
import { $ } from "./ui.js";

const listeners = new Map();

function flag(key) {
  return {
    get: () => localStorage.getItem(key) === "1",
    set: (value) => localStorage.setItem(key, value ? "1" : "0"),
  };
}

const flags = { autoBusy: flag("call.autoBusy"), muted: flag("call.muted") };

/** settings.autoBusy, settings.muted (the ringtone): read and write; writes notify onSetting(name). */
export const settings = {};
for (const [name, { get, set }] of Object.entries(flags)) {
  Object.defineProperty(settings, name, {
    get,
    set(value) {
      set(value);
      for (const fn of listeners.get(name) || []) fn(Boolean(value));
    },
  });
}

export function onSetting(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
}

function renderNotifyState() {
  const box = $("#notify-state");
  const btn = $("#notify-allow");
  if (!("Notification" in window)) {
    box.textContent = "This browser has no notifications.";
    btn.hidden = true;
  } else if (Notification.permission === "granted") {
    box.textContent = "Notifications are on: an incoming call is announced while this tab is hidden.";
    btn.hidden = true;
  } else if (Notification.permission === "denied") {
    box.textContent = "Notifications are blocked for this site (browser settings).";
    btn.hidden = true;
  } else {
    box.textContent = "Allow notifications to hear about calls while this tab is hidden.";
    btn.hidden = false;
  }
}

export function initSettings() {
  $("#auto-busy").checked = settings.autoBusy;
  $("#auto-busy").addEventListener("change", (ev) => { settings.autoBusy = ev.target.checked; });
  $("#ring-muted").checked = settings.muted;
  $("#ring-muted").addEventListener("change", (ev) => { settings.muted = ev.target.checked; });
  onSetting("muted", (muted) => { $("#ring-muted").checked = muted; });
  $("#notify-allow").addEventListener("click", async () => {
    await Notification.requestPermission();
    renderNotifyState();
  });
  renderNotifyState();
}
