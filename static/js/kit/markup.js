// The kit's markup, rendered into its shadow root: the stage (idle, outgoing, in call), the
// call-waiting banner, the toasts, the incoming dialog and the invite dialog. The views
// (static/js/call/*) find their parts here by id and fill them in. The idle view is a slot:
// the site's page puts its own idle content there (light DOM, styled by the page).
// A button's name is its visible words (a voice user says what they see); the incoming
// dialog's title says whose call its buttons answer.
import { say } from "../call/words.js";
import { keyWords } from "../call/appwords.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (text) => String(text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);

/** A sentence with markup where its placeholders are: around("%(name)s is calling", "name", "<b>…</b>"),
 * or with several: around(sentence, {accept: "<kbd>…</kbd>", decline: "…"}). */
function around(sentence, key, html) {
  const parts = typeof key === "string" ? { [key]: html } : key;
  const names = Object.keys(parts);
  const marks = Object.fromEntries(names.map((name, i) => [name, `\u0000${i}\u0000`]));
  return say(sentence, marks).split("\u0000").map((piece, i) => (i % 2 ? parts[names[Number(piece)]] : esc(piece))).join("");
}

/** Alt+Shift+A, as keys: the same on every keyboard layout (the page reads KeyboardEvent.code). */
const keys = (letter) => `<kbd>Alt</kbd>+<kbd>Shift</kbd>+<kbd>${letter}</kbd>`;

const t = (text) => esc(say(text));

/** The whole shadow root: `stylesheets` (URLs, in order), then `style` (CSS text), then the views. */
export function kitMarkup({ stylesheets, style }) {
  return `${stylesheets.map((href) => `<link rel="stylesheet" href="${esc(href)}">`).join("")}
<style>${style}</style>
<div id="call-waiting" class="call-waiting" role="alert" hidden>
  <span class="avatar" id="call-waiting-avatar" aria-hidden="true">?</span>
  <span class="who">${around("%(name)s is calling", "name", '<strong id="call-waiting-caller"></strong>')}
    <span id="call-waiting-kind" class="muted small"></span></span>
  <button type="button" id="call-waiting-busy" class="btn small warn">${t("Busy")}</button>
  <button type="button" id="call-waiting-answer" class="btn small success">${t("Leave & answer")}</button>
</div>
<div class="kit-stage" part="stage">
  <div id="idle" class="view idle"><slot name="idle"></slot></div>

  <div id="outgoing" class="view" hidden>
    <p class="eyebrow" id="outgoing-kind">${t("Outgoing video call")}</p>
    <h2 id="outgoing-title">${t("Calling…")}</h2>
    <ul id="outgoing-members" class="members" aria-label="${t("Invitees")}"></ul>
    <div class="actions">
      <button type="button" id="outgoing-cancel" class="btn danger">${t("Cancel call")}</button>
    </div>
  </div>

  <div id="incall" class="view incall" hidden>
    <header class="incall-head">
      <div class="incall-heading">
        <p class="eyebrow" id="incall-kind">${t("Video call")}</p>
        <h2 id="incall-title">${t("In call")}</h2>
      </div>
      <p class="timer" id="incall-timer" aria-label="${t("Call duration")}">00:00</p>
    </header>
    <p id="media-note" class="media-note small" role="alert" hidden></p>
    <p id="media-mesh-note" class="media-note small" hidden></p>
    <p id="quality-note" class="quality-note small" role="status" hidden></p>
    <div id="media-tiles" class="tiles" aria-label="${t("Video and audio of the members")}"></div>
    <ul id="incall-members" class="members" aria-label="${t("Members")}"></ul>
    <p id="incall-note" class="muted small" hidden></p>
    <div class="call-controls" role="toolbar" aria-label="${t("Call controls")}">
      <div id="media-controls" class="media-controls" hidden>
        <button type="button" id="media-mute" class="btn" aria-pressed="false">${t("Mute")}</button>
        <button type="button" id="media-camera" class="btn" aria-pressed="false">${t("Camera off")}</button>
        <button type="button" id="media-screen" class="btn" aria-pressed="false">${t("Share screen")}</button>
        <details class="devices">
          <summary class="btn">${t("Devices")}</summary>
          <div class="devices-panel">
            <label class="field">${t("Microphone")} <select id="media-mic"></select></label>
            <label class="field" id="media-cam-field">${t("Camera")} <select id="media-cam"></select></label>
          </div>
        </details>
      </div>
      <div class="actions">
        <button type="button" id="incall-invite" class="btn">${t("+ Invite more")}</button>
        <button type="button" id="incall-quit" class="btn warn">${t("Leave call")}</button>
        <button type="button" id="incall-end" class="btn danger">${t("End for everyone")}</button>
        <button type="button" id="incall-hangup" class="btn danger" hidden>${t("Hang up")}</button>
      </div>
    </div>
  </div>
</div>

<div id="toasts" class="toasts" role="status" aria-live="polite"></div>

<dialog id="incoming" class="ringing-dialog" role="alertdialog" aria-modal="true" tabindex="-1"
        aria-labelledby="incoming-title" aria-describedby="incoming-kind incoming-detail">
  <div class="avatar big" id="incoming-avatar" aria-hidden="true">?</div>
  <p class="eyebrow" id="incoming-kind">${t("Incoming video call")}</p>
  <h2 id="incoming-title">${around("%(name)s is calling", "name", '<span id="incoming-caller"></span>')}</h2>
  <p id="incoming-detail" class="muted"></p>
  <p id="incoming-countdown" class="muted small"></p>
  <p id="incoming-more" class="muted small" hidden></p>
  <div class="actions">
    <button type="button" id="incoming-reject" class="btn danger round" aria-keyshortcuts="Alt+Shift+D"><span aria-hidden="true">✕</span> ${t("Reject")}</button>
    <button type="button" id="incoming-busy" class="btn warn round" hidden>${t("Busy")}</button>
    <button type="button" id="incoming-accept" class="btn success round" aria-keyshortcuts="Alt+Shift+A"><span aria-hidden="true">✓</span> ${t("Accept")}</button>
  </div>
  <p id="incoming-keys" class="keys muted small">${around(keyWords.hint(), { accept: keys("A"), decline: keys("D") })}</p>
  <button type="button" id="incoming-dismiss" class="link small" title="${t("Stop ringing here; it keeps ringing on your other devices")}">${t("Dismiss on this device")}</button>
  <button type="button" id="incoming-mute" class="link small" aria-pressed="false">${t("Mute ringtone")}</button>
</dialog>

<dialog id="invite-dialog" aria-labelledby="invite-title">
  <form method="dialog" id="invite-form">
    <h2 id="invite-title">${t("Invite more people")}</h2>
    <label class="visually-hidden" for="invite-search">${t("Search people")}</label>
    <input type="search" id="invite-search" placeholder="${t("Search people…")}" autocomplete="off">
    <p id="invite-room" class="muted small" aria-live="polite"></p>
    <ul id="invite-list" class="userlist" aria-label="${t("People to invite")}"></ul>
    <p id="invite-error" class="error small" role="alert" hidden></p>
    <div class="actions">
      <button type="button" id="invite-close" class="btn">${t("Close")}</button>
      <button type="button" id="invite-send" class="btn primary" disabled>${t("Invite")}</button>
    </div>
  </form>
</dialog>`;
}
