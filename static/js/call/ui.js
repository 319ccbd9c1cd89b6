// Small DOM helpers, toasts, and member items (their words come from words.js).
import { CallUserState as S } from "../zimclient.js";
import { LIMITS, ME, nameOf } from "./store.js";
import { errorWords, notInvitedText, peopleWords, stateWord } from "./words.js";

// Where the views are: the kit's shadow root (static/js/kit/element.js) and, on the site's
// own page, the document around it (people, call form, groups...). setRoots at init.
const roots = { kit: null, page: document, marks: [document.body] };

/** setRoots({kit, page, marks}): the kit's root is searched first; `marks` are the elements
 * whose data-* attributes say the stage, ringing and connection (for CSS and tests). */
export function setRoots({ kit = null, page = null, marks = [] }) {
  Object.assign(roots, { kit, page, marks });
}

export const $ = (sel) => roots.kit?.querySelector(sel) || roots.page?.querySelector(sel) || null;

/** mark("stage", "incall"): data-stage="incall" on each marked element. */
export function mark(name, value) {
  for (const node of roots.marks) node.dataset[name] = value;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export const initials = (name) => (name || "?").slice(0, 2).toUpperCase();

export function avatar(userID) {
  // a stable colour per user
  let hash = 0;
  for (const ch of userID) hash = (hash * 31 + ch.charCodeAt(0)) % 360;
  return el("span", { class: "avatar", style: `--hue:${hash}`, "aria-hidden": "true" }, initials(nameOf(userID)));
}

export function toast(text, kind = "info") {
  const node = el("div", { class: `toast ${kind}` }, text);
  $("#toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

export function showError(box, text) {
  box.textContent = text;
  box.hidden = false;
}

/** An error in words: the page's own for the reasons it knows, else the server's message. */
export function errorText(err) {
  return errorWords(err.reason, { maxParticipants: LIMITS.maxParticipants }) || err.message || err.reason;
}

export const STATE_CLASS = {
  [S.Inviting]: "pending", [S.Received]: "pending", [S.NotYetReceived]: "warn", [S.Accepted]: "ok",
  [S.Rejected]: "bad", [S.Cancelled]: "muted", [S.Timeout]: "bad", [S.Quit]: "muted", [S.Unknown]: "muted",
};

export const stateLabel = stateWord;

/** A member of a call as a list item: avatar, name, role, state badge. */
export function memberItem(m, call) {
  const cls = STATE_CLASS[m.state] || "muted";
  const role = m.userID === call.caller ? "caller" : m.userID === ME ? "you" : "";
  return el("li", { class: "member", dataset: { member: m.userID, state: String(m.state) } },
    avatar(m.userID),
    el("span", { class: "who" }, el("span", { class: "name" }, m.userID === ME ? peopleWords.you(m.userID) : nameOf(m.userID)),
      role && role !== "you" ? el("span", { class: "muted small" }, ` ${peopleWords.callerRole()}`) : null),
    el("span", { class: `badge ${cls}` }, stateLabel(m)));
}

/** The ring time the user chose in the call form (the server's default until changed); 0: until answered. */
export function chosenTimeout() {
  const untilAnswered = $("#call-until-answered");
  if (!untilAnswered) return LIMITS.defaultTimeout; // no call form (the kit on an app's page)
  return untilAnswered.checked ? 0 : Number($("#call-timeout").value);
}

/** Invitees the server did not invite, as toasts. */
export function reportErrorInvitees(errorInvitees) {
  for (const e of errorInvitees) toast(notInvitedText(e.userID, e.reason), "warn");
}
