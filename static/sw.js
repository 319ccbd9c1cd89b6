/* The site's service worker, served at /sw.js with the whole site as its scope.

   It rings a user whose tabs are closed: the server sends a Web Push message
   (encrypted, decrypted here by the browser) for an invitation to a user with
   no connected device, and a second one when that invitation stops pending.

   push {event: "callInvitationReceived", data, title, body}
        -> a notification, tag = callID, Accept and Reject buttons
   push {event: "callInvitationClosed", data: {callID, state, reason}}
        -> that notification is closed
   Accept -> focus (or open) the call page, which accepts over its WebSocket
   Reject -> POST /api/calls/{callID}/reject with the session cookie and CSRF token
*/
"use strict";

const STORE = "callsite-sw";
const CSRF_KEY = "/sw-state/csrf-token";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// The page hands over its CSRF token (service workers cannot read document.cookie,
// and the Cookie Store API is not everywhere); kept in Cache Storage across restarts.
self.addEventListener("message", (event) => {
  const msg = event.data || {};
  if (msg.type === "csrfToken" && typeof msg.token === "string") {
    event.waitUntil(caches.open(STORE).then((c) => c.put(CSRF_KEY, new Response(msg.token))));
  }
});

async function csrfToken() {
  if (self.cookieStore) {
    try {
      const cookie = await self.cookieStore.get("csrftoken");
      if (cookie && cookie.value) return cookie.value;
    } catch (e) { /* fall back to the token the page gave us */ }
  }
  const cached = await (await caches.open(STORE)).match(CSRF_KEY);
  return cached ? cached.text() : "";
}

function isVideo(extendedData) {
  try { return JSON.parse(extendedData || "{}").type === "video"; } catch (e) { return false; }
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
  await self.registration.showNotification(msg.title || `${data.caller} is calling`, {
    tag: data.callID,
    body: msg.body || (video ? "Video call" : "Voice call"),
    requireInteraction: true,
    renotify: true,
    actions: [
      { action: "accept", title: "Accept" },
      { action: "reject", title: "Reject" },
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
    const caller = (shown[0].data || {}).caller || "Someone";
    await self.registration.showNotification(`Missed call from ${caller}`, {
      tag: `missed-${callID}`,
      body: state === CANCELLED ? "The caller hung up before you answered." : "Nobody answered in time.",
      data: { callID, missed: true },
    });
  }
}

self.addEventListener("push", (event) => {
  let msg = {};
  try { msg = event.data ? event.data.json() : {}; } catch (e) { return; }
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
  return self.clients.openWindow(accept ? `/?accept=${encodeURIComponent(callID)}` : "/");
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
