// This browser's settings (localStorage) and the Settings panel.
import { $ } from "./ui.js";
import { PUSH_DEVICE_KEY } from "../pushdevice.js";
import { settingsWords as words } from "./words.js";
import { notificationWords } from "./appwords.js";
import { homeScreenNeed, renderHomeScreenNote } from "./homescreen.js";

const listeners = new Map();

/** Where the settings live: this browser's localStorage, unless the kit keeps them (keepSettingsIn). */
const place = { storage: null };
const storage = () => place.storage || localStorage;

/** Keep the settings in `storage` (getItem/setItem), e.g. a kit's own, instead of localStorage. */
export function keepSettingsIn(storage) {
  place.storage = storage;
}

function flag(key) {
  return {
    get: () => storage().getItem(key) === "1",
    set: (value) => storage().setItem(key, value ? "1" : "0"),
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
    box.textContent = words.noNotifications();
    btn.hidden = true;
  } else if (Notification.permission === "granted") {
    box.textContent = words.notificationsOn();
    btn.hidden = true;
  } else if (Notification.permission === "denied") {
    box.textContent = words.notificationsBlocked();
    btn.hidden = true;
  } else {
    box.textContent = words.allowNotifications();
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
  initPushToggle();
  initLanguageChoice();
}

/** The language switch is a plain form (Django's set_language, CSRF); choosing one sends it. */
function initLanguageChoice() {
  const form = $("#language-form");
  if (!form) return;
  form.querySelector("#language-apply").hidden = true;
  form.querySelector("#language-choice").addEventListener("change", () => form.requestSubmit());
}

// ---- "Ring me when this site is closed": the service worker and a Web Push subscription ----

const PUSH_TIMEOUT_MS = 10000;

function csrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error?.message || words.serverAnswered(response.status));
  return data;
}

function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return false;
  const a = new Uint8Array(buffer);
  return a.length === bytes.length && a.every((v, i) => v === bytes[i]);
}

/** One id per browser (a subscription belongs to the browser, not to a tab). */
function pushDeviceID() {
  let id = localStorage.getItem(PUSH_DEVICE_KEY);
  if (!id) {
    id = `browser-${Math.random().toString(36).slice(2, 10)}`;
    localStorage.setItem(PUSH_DEVICE_KEY, id);
  }
  return id;
}

const pushSupported = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

function pushState(text, kind = "muted") {
  const box = $("#push-state");
  box.textContent = text;
  box.className = `${kind} small`;
}

/** Register /sw.js (scope: the whole site) and hand it the CSRF token it needs to reject from a notification. */
export async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    const registration = await navigator.serviceWorker.ready;
    registration.active?.postMessage({ type: "csrfToken", token: csrfToken() });
    registration.active?.postMessage({ type: "words", words: notificationWords() }); // its notifications speak the page's language
    return registration;
  } catch (err) {
    console.warn("service worker not registered", err);
    return null;
  }
}

async function pushOn() {
  if (!pushSupported()) throw new Error(words.noPush());
  const permission = await Notification.requestPermission();
  renderNotifyState();
  if (permission !== "granted") throw new Error(words.allowFirst());
  const registration = await withTimeout(navigator.serviceWorker.ready, PUSH_TIMEOUT_MS, words.workerNotStarted());
  const { publicKey } = await api("GET", "/api/push/key");
  const key = keyBytes(publicKey);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    await subscription.unsubscribe(); // made with another server key: useless now
    subscription = null;
  }
  if (!subscription) {
    subscription = await withTimeout(
      registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }),
      PUSH_TIMEOUT_MS,
      words.noPushServiceAnswer(),
    ).catch((err) => {
      if (err.name === "AbortError" || err.name === "NotAllowedError" || err.name === "NotSupportedError") {
        throw new Error(words.noPushService(err.message));
      }
      throw err;
    });
  }
  await api("POST", "/api/push/subscriptions", { ...subscription.toJSON(), deviceID: pushDeviceID() });
}

async function pushOff() {
  const registration = await navigator.serviceWorker.getRegistration("/");
  const subscription = registration && await registration.pushManager.getSubscription();
  if (!subscription) return;
  await api("DELETE", "/api/push/subscriptions", { endpoint: subscription.endpoint });
  await subscription.unsubscribe();
}

async function renderPushState() {
  const box = $("#push-ring");
  if (renderHomeScreenNote()) { // iPhone or iPad in a Safari tab: the note says how instead
    box.checked = false;
    box.disabled = true;
    pushState("");
    return;
  }
  if (!pushSupported()) {
    box.checked = false;
    box.disabled = true;
    pushState(words.noPush());
    return;
  }
  const registration = await navigator.serviceWorker.getRegistration("/");
  const subscription = registration && await registration.pushManager.getSubscription().catch(() => null);
  box.checked = Boolean(subscription);
  pushState(subscription ? words.pushOn() : "");
  // keep the server's copy current (and this browser ringing for whoever is signed in now)
  if (subscription) {
    api("POST", "/api/push/subscriptions", { ...subscription.toJSON(), deviceID: pushDeviceID() }).catch(() => {});
  }
}

function initPushToggle() {
  const box = $("#push-ring");
  if (renderHomeScreenNote()) box.disabled = true; // at once, not only once the worker is ready
  box.addEventListener("change", async () => {
    const on = box.checked;
    box.disabled = true;
    pushState(on ? words.turningOn() : words.turningOff());
    try {
      if (on) await pushOn(); else await pushOff();
      await renderPushState();
    } catch (err) {
      box.checked = !on;
      pushState(err.message || String(err), "error");
    } finally {
      box.disabled = !pushSupported() || Boolean(homeScreenNeed());
    }
  });
  registerServiceWorker().then(renderPushState);
}
