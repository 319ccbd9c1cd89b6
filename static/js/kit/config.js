// The kit's configuration: CallKit.init's `config`, with UIKit's names where UIKit has
// one (ringtoneConfig, turnOnMicrophoneWhenJoining, canInvitingInCalling...), filled with
// the defaults an app gets when it says nothing.

/** Which of the kit's buttons each `buttons` key shows or hides (selectors in its shadow root). */
export const BUTTONS = Object.freeze({
  accept: ["#incoming-accept", "#call-waiting-answer"],
  decline: ["#incoming-reject"],
  busy: ["#incoming-busy", "#call-waiting-busy"],
  dismiss: ["#incoming-dismiss"],
  muteRingtone: ["#incoming-mute"],
  cancel: ["#outgoing-cancel"],
  microphone: ["#media-mute"],
  camera: ["#media-camera"],
  devices: [".devices"],
  hangUp: ["#incall-hangup", "#incall-quit"],
  inviteMore: ["#incall-invite"],
  endForEveryone: ["#incall-end"],
});

const DEFAULT_BUTTONS = Object.freeze({
  accept: true, decline: true, busy: false, dismiss: false, muteRingtone: true, cancel: true,
  microphone: true, camera: true, devices: true, hangUp: true, inviteMore: false, endForEveryone: false,
});

/** PROTOCOL's limits, as an app's kit assumes them (the site's page passes the server's own). */
const PROTOCOL_LIMITS = Object.freeze({ maxParticipants: 10, minTimeout: 1, maxTimeout: 600 });

export class CallKitError extends Error {
  /** {code, reason, message}: PROTOCOL's error object, or the kit's own reasons (invalid_argument...). */
  constructor({ code = null, reason, message }) {
    super(message || reason);
    this.name = "CallKitError";
    this.code = code;
    this.reason = reason;
  }
}

const invalid = (message) => new CallKitError({ reason: "invalid_argument", message });

/** The whole configuration from init's `config` (defaults for what is missing); throws CallKitError. */
export function configFrom(config = {}) {
  const ringtone = { incomingCallUrl: "", outgoingCallUrl: "", muted: false, ...(config.ringtoneConfig || {}),
    ...(config.ringtone || {}) };
  const buttons = { ...DEFAULT_BUTTONS };
  for (const [name, shown] of Object.entries(config.buttons || {})) {
    if (!(name in BUTTONS)) throw invalid(`config.buttons: no button "${name}" (${Object.keys(BUTTONS).join(", ")})`);
    buttons[name] = Boolean(shown);
  }
  const timeout = config.timeout ?? 60;
  if (!Number.isInteger(timeout) || timeout < 0 || timeout > PROTOCOL_LIMITS.maxTimeout) {
    throw invalid("config.timeout: whole seconds, 1..600 (0: until answered)");
  }
  const limits = { ...PROTOCOL_LIMITS, defaultTimeout: timeout, ...(config.limits || {}) };
  return Object.freeze({
    container: config.container || null,
    layout: config.layout === "inline" ? "inline" : "overlay",
    language: config.language || "",
    words: { ...(config.words || {}) },
    ringtone: Object.freeze(ringtone),
    timeout,
    limits: Object.freeze(limits),
    buttons: Object.freeze(buttons),
    turnOnMicrophoneWhenJoining: config.turnOnMicrophoneWhenJoining !== false,
    turnOnCameraWhenJoining: config.turnOnCameraWhenJoining !== false,
    rejectWhenBusy: config.rejectWhenBusy !== false,
    canInvitingInCalling: Boolean(config.canInvitingInCalling),
    // a <call-kit> already in the page (else one is made and appended to `container`)
    element: config.element || null,
    // the site's own page: its settings panel's choices (localStorage), its parts around the kit
    // (people, call form, groups: found in the document)
    sitePage: Boolean(config.sitePage),
  });
}

/** The style that hides the buttons `buttons` turns off. */
export function buttonsStyle(buttons) {
  const hidden = Object.entries(buttons).filter(([, shown]) => !shown).flatMap(([name]) => BUTTONS[name]);
  return hidden.length ? `${hidden.join(", ")} { display: none !important; }` : "";
}
