// Sign-out (the form in templates/base.html) takes this browser's push subscription with it,
// so the next person using the browser is not rung for the previous user's calls.
// Without JavaScript the form signs out as it is. With it, the form first carries the
// subscription's endpoint and this browser's push device id (the server deletes the
// user's rows for them while signing out, even if the steps below fail), and submitting
// removes the server's row (DELETE /api/push/subscriptions) and unsubscribes in the
// browser (PushSubscription.unsubscribe()), then signs out.

import { PUSH_DEVICE_KEY } from "./pushdevice.js";

// a push service or worker that does not answer must not keep the user signed in
const STEP_TIMEOUT_MS = 5000;

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error("timed out")), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function currentSubscription() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return null;
  const registration = await navigator.serviceWorker.getRegistration("/");
  return registration ? registration.pushManager.getSubscription() : null;
}

function csrfToken(form) {
  return form.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

async function forgetSubscription(form) {
  const subscription = await withTimeout(currentSubscription(), STEP_TIMEOUT_MS);
  if (!subscription) return;
  form.elements.push_endpoint.value = subscription.endpoint;
  const removed = fetch("/api/push/subscriptions", {
    method: "DELETE",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form) },
    body: JSON.stringify({ endpoint: subscription.endpoint }),
  });
  // each side on its own: a failed DELETE must not keep the browser subscribed
  await Promise.allSettled([withTimeout(removed, STEP_TIMEOUT_MS), withTimeout(subscription.unsubscribe(), STEP_TIMEOUT_MS)]);
}

function initSignOut(form) {
  if (form.dataset.ready) return; // this module loaded under a second URL
  form.dataset.ready = "1";
  form.elements.push_device.value = localStorage.getItem(PUSH_DEVICE_KEY) || "";
  currentSubscription().then((s) => { if (s) form.elements.push_endpoint.value = s.endpoint; }).catch(() => {});
  let leaving = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (leaving) return;
    leaving = true;
    form.querySelector("button")?.setAttribute("disabled", "");
    forgetSubscription(form).catch(() => {}).finally(() => form.submit());
  });
}

const form = document.querySelector("#sign-out");
if (form) initSignOut(form);
