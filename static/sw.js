/* The site's service worker, served at /sw.js with the whole site as its scope.

   It rings a user whose tabs are closed: the server sends a Web Push message
   (encrypted, decrypted here by the browser) for an invitation to a user with
   no connected device, and a second one when that invitation stops pending.

   push {event: "callInvitationReceived", data, title, body}
        -> a notification, tag = callID, Accept and Reject buttons
   push {event: "callInvitationClosed", data: {callID, state, reason}}
        -> that notification is closed
   Accept -> focus the call page and post it {type: "notificationAccept"}, or open
             /?accept=<callID>&proof=<one-time proof>; the page accepts over its WebSocket
   Reject -> POST /api/calls/{callID}/reject with the session cookie and CSRF token

   A navigation the network cannot answer gets the offline page (/offline/, kept at install):
   an installed app opened without a network says so instead of the browser's error.

   The notifications' own words (buttons, the missed-call notice, the fallbacks) are the
   page's, in its language: the page posts them ({type: "words"}) with its CSRF token.

   A link to /?accept=<callID> alone (from mail or chat, any site) accepts nothing: the
   page only brings that call's ringing dialog forward. It accepts when this worker
   confirms the proof, which it made at the click on Accept, for that call, once.
*/
"use strict";

const STORE = "callsite-sw";
const CSRF_KEY = "/sw-state/csrf-token";
const WORDS_KEY = "/sw-state/words";
const OFFLINE_URL = "/offline/";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(STORE).then((c) => c.add(OFFLINE_URL)).catch(() => {}).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// Only page loads: everything else goes to the network untouched.
self.addEventListener("fetch", (event) => {
  if (event.request.mode !== "navigate") return;
  event.respondWith(fetch(event.request).catch(async () => {
    const offline = await (await caches.open(STORE)).match(OFFLINE_URL);
    return offline || Response.error();
  }));
});

// The English defaults; the page's language replaces them (static/js/call/words.js notificationWords).
const WORDS = {
  accept: "Accept",
  reject: "Reject",
  calling: "%(name)s is calling",
  videoCall: "Video call",
  voiceCall: "Voice call",
  missedFrom: "Missed call from %(name)s",
  someone: "Someone",
  hungUpFirst: "The caller hung up before you answered.",
  nobodyAnswered: "Nobody answered in time.",
};

async function say(key, params = {}) {
  const saved = await (await caches.open(STORE)).match(WORDS_KEY);
  const words = saved ? { ...WORDS, ...(await saved.json().catch(() => ({}))) } : WORDS;
  return String(words[key] || WORDS[key]).replace(/%\((\w+)\)s/g, (_, name) => String(params[name] ?? ""));
}

// The page hands over its CSRF token (service workers cannot read document.cookie,
// and the Cookie Store API is not everywhere); kept in Cache Storage across restarts.
self.addEventListener("message", (event) => {
  const msg = event.data || {};
  if (msg.type === "csrfToken" && typeof msg.token === "string") {
    event.waitUntil(caches.open(STORE).then((c) => c.put(CSRF_KEY, new Response(msg.token))));
  } else if (msg.type === "words" && msg.words && typeof msg.words === "object") {
    const words = Object.fromEntries(Object.entries(msg.words).filter(([k, v]) => k in WORDS && typeof v === "string"));
    event.waitUntil(caches.open(STORE).then((c) => c.put(WORDS_KEY, new Response(JSON.stringify(words)))));
  } else if (msg.type === "redeemAcceptProof" && event.ports[0]) {
    const port = event.ports[0];
    event.waitUntil(redeemAcceptProof(msg.callID, msg.proof).then(
      (ok) => port.postMessage({ ok }), () => port.postMessage({ ok: false })));
  }
});

// ---- the proof that Accept was clicked on this worker's notification ----
// Kept in Cache Storage: the browser may stop and restart this worker between the click
// and the opened page's question. Short-lived and used once.
const PROOF_PREFIX = "/sw-state/accept-proof/";
const PROOF_TTL_MS = 60000;
const redeeming = new Set(); // a proof being checked: a second question about it is refused

async function acceptProof(callID) {
  const proof = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  const cache = await caches.open(STORE);
  const now = Date.now();
  for (const request of await cache.keys()) { // forget proofs nobody redeemed
    if (!new URL(request.url).pathname.startsWith(PROOF_PREFIX)) continue;
    const saved = await cache.match(request);
    if (!saved || (await saved.json().catch(() => ({}))).until < now) await cache.delete(request);
  }
  await cache.put(PROOF_PREFIX + proof, new Response(JSON.stringify({ callID, until: now + PROOF_TTL_MS })));
  return proof;
}

/** The URL that opens the call page and accepts callID (made only when Accept is clicked). */
async function acceptURL(callID) {
  const proof = await acceptProof(callID);
  return `/?accept=${encodeURIComponent(callID)}&proof=${proof}`;
}

async function redeemAcceptProof(callID, proof) {
  if (typeof callID !== "string" || typeof proof !== "string" || !/^[0-9a-f]{32}$/.test(proof)) return false;
  if (redeeming.has(proof)) return false;
  redeeming.add(proof);
  try {
    const cache = await caches.open(STORE);
    const saved = await cache.match(PROOF_PREFIX + proof);
    if (!saved) return false;
    await cache.delete(PROOF_PREFIX + proof); // once, whatever the answer
    const made = await saved.json().catch(() => ({}));
    return made.callID === callID && Date.now() < made.until;
  } finally {
    redeeming.delete(proof);
  }
}

async function csrfToken() {
  if (self.cookieStore) {
    try {
      const cookie = await self.cookieStore.get("csrftoken");
      if (cookie && cookie.value) return cookie.value;
    } catch { /* fall back to the token the page gave us */ }
  }
  const cached = await (await caches.open(STORE)).match(CSRF_KEY);
  return cached ? cached.text() : "";
}

function isVideo(extendedData) {
  try { return JSON.parse(extendedData || "{}").type === "video"; } catch { return false; }
}

// A push can come twice (the site retries one the push service may already have taken)
// or late: an invitation already closed on this device does not ring again. It is known
// by its call and deadline, which a later invitation to the same call (a re-invite)
// does not share. Kept while this worker lives, until the deadline passes.
const closedInvitations = new Map(); // "callID deadline" -> deadline

function forgetPassed() {
  const now = Date.now();
  for (const [key, deadline] of closedInvitations) if (deadline < now) closedInvitations.delete(key);
}

async function showInvitation(msg) {
  const data = msg.data || {};
  if (!data.callID) return;
  // A push that waited at the push service past the deadline rings nobody.
  if (data.deadline && data.deadline < Date.now()) return;
  forgetPassed();
  if (data.deadline && closedInvitations.has(`${data.callID} ${data.deadline}`)) return;
  const video = isVideo(data.extendedData);
  // The caller's own text (pushConfig) as given; else this worker words it, in the language of
  // this user's page (the server's fallback is English). A push cut to fit may have lost
  // pushConfig: then the server's title and body stand.
  const own = !data.pushConfig && !data.truncated;
  const from = data.inviter || data.caller;
  const name = data.userNames?.[from] || from;
  await self.registration.showNotification((!own && msg.title) || await say("calling", { name }), {
    tag: data.callID,
    body: (!own && msg.body) || await say(video ? "videoCall" : "voiceCall"),
    requireInteraction: true,
    renotify: true,
    actions: [
      { action: "accept", title: await say("accept") },
      { action: "reject", title: await say("reject") },
    ],
    data: { callID: data.callID, caller: data.caller, video, deadline: data.deadline || 0 },
  });
}

const CANCELLED = 3;
const TIMEOUT = 6;

async function closeInvitation(msg) {
  const { callID, state } = msg.data || {};
  if (!callID) return;
  const shown = await self.registration.getNotifications({ tag: callID });
  for (const n of shown) {
    const deadline = (n.data || {}).deadline;
    if (deadline) closedInvitations.set(`${callID} ${deadline}`, deadline);
    n.close();
  }
  // Nobody answered: leave a quiet trace, as a phone does. (Browsers also expect a
  // push to show something: Safari drops a subscription whose pushes show nothing.)
  if (shown.length && (state === CANCELLED || state === TIMEOUT)) {
    const caller = (shown[0].data || {}).caller || await say("someone");
    await self.registration.showNotification(await say("missedFrom", { name: caller }), {
      tag: `missed-${callID}`,
      body: await say(state === CANCELLED ? "hungUpFirst" : "nobodyAnswered"),
      data: { callID, missed: true },
    });
  }
}

self.addEventListener("push", (event) => {
  let msg = {};
  try { msg = event.data ? event.data.json() : {}; } catch { return; }
  if (msg.event === "callInvitationReceived") event.waitUntil(showInvitation(msg));
  else if (msg.event === "callInvitationClosed") event.waitUntil(closeInvitation(msg));
});

async function openCallPage(callID, accept) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const page = windows.find((w) => new URL(w.url).pathname === "/") || null;
  if (page) {
    if (accept) page.postMessage({ type: "notificationAccept", callID });
    // focus() is allowed only while a notification click is handled
    return page.focus().catch(() => page);
  }
  return self.clients.openWindow(accept ? await acceptURL(callID) : "/");
}

async function reject(callID) {
  const response = await fetch(`/api/calls/${encodeURIComponent(callID)}/reject`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": await csrfToken() },
    body: "{}",
  });
  if (!response.ok && response.status !== 409) {
    // Signed out, or the session expired: let the user answer on the page.
    await openCallPage(callID, false);
  }
}

self.addEventListener("notificationclick", (event) => {
  const { callID } = event.notification.data || {};
  event.notification.close();
  if (!callID) return;
  const missed = Boolean((event.notification.data || {}).missed);
  if (event.action === "reject") event.waitUntil(reject(callID));
  else event.waitUntil(openCallPage(callID, !missed && event.action === "accept"));
});

// The push service replaced the subscription: store the new one.
self.addEventListener("pushsubscriptionchange", (event) => {
  const old = event.oldSubscription;
  event.waitUntil((async () => {
    const sub = event.newSubscription ||
      await self.registration.pushManager.subscribe(old ? old.options : { userVisibleOnly: true });
    await fetch("/api/push/subscriptions", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": await csrfToken() },
      body: JSON.stringify(sub.toJSON()),
    });
  })());
});
