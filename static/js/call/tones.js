// What the caller hears, and the sound settings. While a call this tab placed rings
// out, ringback plays (until someone answers or the invitation ends); a call that ends
// unanswered because the callee rejected it as busy plays the busy tone, three cycles.
// Settings: the ringtone (from the bundled sounds, previewed there) and the output
// device every sound of the page plays on, where the browser can choose (setSinkId).
import { CallUserState as S } from "../zimclient.js";
import { Loop, RINGTONES, canChooseOutput, setOutput, unlockOnGesture } from "../sounds.js";
import { ME, PENDING, activeCall, invitees, on, stageOf, store, zim } from "./store.js";
import { $, el } from "./ui.js";
import { soundWords as words } from "./words.js";

const BUSY_CYCLES = 3;
const PREVIEW_CYCLES = 2;

const stored = (key, fallback) => ({
  get: () => localStorage.getItem(key) || fallback,
  set: (value) => localStorage.setItem(key, value),
});
const ringtoneKey = stored("call.ringtone", RINGTONES[0]);
const outputKey = stored("call.soundOutput", "");

/** The ringtone chosen in Settings (incoming.js rings with it). */
export function chosenRingtone() {
  const name = ringtoneKey.get();
  return RINGTONES.includes(name) ? name : RINGTONES[0];
}

const ringback = new Loop();
const busyTone = new Loop();
const preview = new Loop();

// ---- the caller's side -----------------------------------------------------------------

/** Calls this tab rang out, until they are answered or over: the busy tone is for them only. */
const ringingOut = new Set();

function ringsOut(call) {
  return Boolean(call && store.here.has(call.callID) && call.caller === ME && stageOf(call) === "outgoing"
    && invitees(call).some((m) => PENDING.has(m.state)));
}

function renderRingback() {
  const call = activeCall();
  if (ringsOut(call)) {
    ringingOut.add(call.callID);
    busyTone.stop();
    ringback.start("ringback");
  } else {
    ringback.stop();
  }
}

/** After a member's change: the call rang out from here and nobody is left to answer. */
function heardBusy({ callID }) {
  const call = store.calls.get(callID);
  if (!call || !ringingOut.has(callID)) return;
  const list = invitees(call);
  if (list.some((m) => PENDING.has(m.state))) return;
  ringingOut.delete(callID);
  const busy = list.some((m) => m.state === S.Rejected && m.reason === "busy");
  if (busy && !list.some((m) => m.state === S.Accepted)) busyTone.start("busy", { cycles: BUSY_CYCLES });
}

// ---- Settings: ringtone, preview, output device ---------------------------------------------

function renderPreview() {
  const button = $("#ringtone-preview");
  const playing = Boolean(preview.playing);
  button.textContent = words.preview(playing);
  button.setAttribute("aria-label", words.previewLabel(playing));
  button.setAttribute("aria-pressed", String(playing));
}

function togglePreview() {
  if (preview.playing) preview.stop();
  else preview.start(chosenRingtone(), { cycles: PREVIEW_CYCLES, done: renderPreview });
  renderPreview();
}

async function fillOutputs() {
  const select = $("#sound-output");
  let outputs = [];
  try {
    outputs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audiooutput"
      && d.deviceId && d.deviceId !== "default");
  } catch {
    // no device list: the default only
  }
  const chosen = outputKey.get();
  select.replaceChildren(el("option", { value: "" }, words.defaultOutput()),
    ...outputs.map((d, i) => el("option", { value: d.deviceId }, d.label || words.output(i + 1))));
  select.value = outputs.some((d) => d.deviceId === chosen) ? chosen : "";
}

function initOutput() {
  const select = $("#sound-output");
  if (!canChooseOutput() || !navigator.mediaDevices?.enumerateDevices) {
    $("#sound-output-field").hidden = true;
    $("#sound-output-note").textContent = words.noOutputChoice();
    return;
  }
  setOutput(outputKey.get());
  fillOutputs();
  // labels come with the microphone permission, and devices come and go
  select.addEventListener("focus", fillOutputs);
  navigator.mediaDevices.addEventListener?.("devicechange", fillOutputs);
  select.addEventListener("change", () => {
    outputKey.set(select.value);
    setOutput(select.value);
  });
}

function initRingtoneChoice() {
  const select = $("#ringtone-choice");
  select.replaceChildren(...RINGTONES.map((name) => el("option", { value: name }, words.ringtoneName(name))));
  select.value = chosenRingtone();
  select.addEventListener("change", () => {
    ringtoneKey.set(select.value);
    if (preview.playing) preview.start(chosenRingtone(), { cycles: PREVIEW_CYCLES, done: renderPreview });
  });
  $("#ringtone-preview").addEventListener("click", togglePreview);
  renderPreview();
}

export function initTones() {
  unlockOnGesture();
  on("stage", renderRingback);
  zim.on("callUserStateChanged", heardBusy);
  zim.on("callInvitationEnded", heardBusy);
  initRingtoneChoice();
  initOutput();
}
