// Everything the call page says (sentences, labels, button texts, toasts) in one place.
// Whole sentences with named placeholders (%(name)s), the form Django's JavaScriptCatalog
// reads (gettext + interpolate(text, params, true)), so a translation hooks in here only.
// The server pages' twin is invitations/web/words.py. scripts/messages.py collects the
// sentences of say(), sayN() and phrase() (here, in appwords.js and ../kit/markup.js) into
// the catalog (locale/zh_Hans/LC_MESSAGES/djangojs.po).
import { CallUserState as S } from "../zimclient.js";
import { nameOf } from "./store.js";

const gettext = globalThis.gettext || ((text) => text);
const ngettext = globalThis.ngettext || ((one, many, n) => (n === 1 ? one : many));

/** A sentence kept in a table and said later (say(table[key])): marked here for the catalog. */
export const phrase = (text) => text;

/** say("%(name)s declined", {name: "bob"}) -> "bob declined" */
export function say(text, params = {}) {
  return gettext(text).replace(/%\((\w+)\)s/g, (_, key) => String(params[key] ?? ""));
}

export function sayN(one, many, count, params = {}) {
  return ngettext(one, many, count).replace(/%\((\w+)\)s/g, (_, key) => String({ count, ...params }[key] ?? ""));
}

/** "bob", "bob and carol", "bob, carol and dave" */
export function names(userIDs) {
  const list = userIDs.map(nameOf);
  if (list.length <= 1) return list.join("");
  return say("%(first)s and %(last)s", { first: list.slice(0, -1).join(", "), last: list[list.length - 1] });
}

/** A member's state as a short badge. */
export function stateWord(member) {
  if (member.state === S.Rejected && member.reason === "busy") return say("Busy");
  if (member.state === S.Cancelled && member.reason === "caller_offline") return say("Not rung: caller offline");
  if (member.state === S.Quit && member.reason === "offline") return say("Went offline");
  const words = {
    [S.Unknown]: phrase("Not invited"), [S.Inviting]: phrase("Calling…"), [S.Received]: phrase("Ringing"),
    [S.NotYetReceived]: phrase("May be offline"), [S.Accepted]: phrase("In call"), [S.Rejected]: phrase("Declined"),
    [S.Cancelled]: phrase("Cancelled"), [S.Timeout]: phrase("No answer"), [S.Quit]: phrase("Left"),
  };
  return say(words[member.state] ?? "Not invited");
}

/** What happened to one invitee, as a sentence part: "bob declined", "bob is busy". */
export function memberSentence(member) {
  const name = nameOf(member.userID);
  if (member.state === S.Rejected) return member.reason === "busy" ? say("%(name)s is busy", { name }) : say("%(name)s declined", { name });
  const words = {
    [S.Timeout]: phrase("%(name)s did not answer"), [S.Cancelled]: phrase("%(name)s was not rung any more"),
    [S.Accepted]: phrase("%(name)s answered"), [S.Quit]: phrase("%(name)s left"), [S.NotYetReceived]: phrase("%(name)s may be offline"),
    [S.Received]: phrase("%(name)s's phone is ringing"), [S.Inviting]: phrase("%(name)s is being called"),
  };
  return say(words[member.state] ?? phrase("%(name)s was not reached"), { name });
}

/** The toast when an outgoing call closes unanswered: "bob declined.", "You cancelled the call." */
export function unansweredSentence(invitees, { byMe } = {}) {
  if (invitees.length && invitees.every((m) => m.state === S.Cancelled)) {
    if (invitees.every((m) => m.reason === "caller_offline")) return say("The call was cancelled: you went offline.");
    return byMe ? say("You cancelled the call.") : say("The call was cancelled.");
  }
  const told = invitees.filter((m) => m.state !== S.Cancelled).map(memberSentence);
  return told.length ? say("Nobody answered: %(what)s.", { what: told.join(", ") }) : say("Nobody answered.");
}

/** The in-call heading: who is in the call with me, or whom it waits for. */
export function inCallTitle(inCallWith, waitingFor) {
  if (inCallWith.length) return say("In call with %(names)s", { names: names(inCallWith) });
  if (waitingFor.length) return say("Waiting for %(names)s to answer", { names: names(waitingFor) });
  return say("Nobody else is in the call");
}

export const W = {
  callNames: (list) => say("Call %(names)s", { names: names(list) }),
  call: () => say("Call"),
  full: (max) => say("That is %(max)s people, the most one call can hold with you. Unpick someone to pick another.", { max }),
  fullTitle: (max) => say("A call holds at most %(max)s people besides you", { max }),
  inviteFull: (total) => say("The call is full: at most %(total)s people, you included.", { total }),
  inviteRoom: (room) => sayN("%(count)s more person can join this call.", "%(count)s more people can join this call.", room),
  ringFor: (min, max) => say("Ring for %(min)s to %(max)s seconds, or tick “Ring until answered”.", { min, max }),
  ringForUsed: (secs) => say("Rings for %(secs)s s. Call back, Ring again and Invite more ring that long too.", { secs }),
  ringForever: () => say("Rings until answered. Call back, Ring again and Invite more do too."),
  prefilled: (list) => say("Ready to call %(names)s: press Call to ring.", { names: names(list) }),
  notFound: (list) => say("%(names)s cannot be called from here (not found).", { names: names(list) }),
  everyoneIn: () => say("Everyone is already in the call."),
  ringAgain: (userID) => say("Ring %(name)s again", { name: nameOf(userID) }),
  ringAgainTitle: (secs) => (secs ? say("Rings for %(secs)s s (the “Ring for” time)", { secs }) : say("Rings until answered")),
};

// ---- people leaving a call ----

/** "bob left", "bob left (connection lost)", "bob left (hung up)" */
export function leftText(userID, reason) {
  if (reason === "offline") return say("%(name)s left (connection lost)", { name: nameOf(userID) });
  if (reason === "hung_up") return say("%(name)s left (hung up)", { name: nameOf(userID) });
  return say("%(name)s left", { name: nameOf(userID) });
}

export const hungUpText = (userID, reason) => say("%(left)s · call ended", { left: leftText(userID, reason) });
export const aloneTitle = () => say("Everyone else left");
export const aloneNote = (advanced) => (advanced
  ? say("You are the only one left in this call. End it when you are done.")
  : say("You are the only one left in this call. Hang up when you are done."));
export const selfAwayText = () => say("You were away too long and left the call");
export const selfLeftText = () => say("You left the call");

// ---- missed calls ----

export const missedToast = (from, type) => (type === "voice"
  ? say("Missed voice call from %(name)s", { name: nameOf(from) })
  : say("Missed video call from %(name)s", { name: nameOf(from) }));
export const missedCountText = (n) => sayN("%(count)s missed call", "%(count)s missed calls", n);

// ---- kinds and modes ----

/** Phrases shown on one line, each whole on its own: "Outgoing video call · advanced mode". */
const facts = (...parts) => parts.filter(Boolean).join(" · ");

/** "voice", "video" */
export const kindWord = (type) => (type === "voice" ? say("voice") : say("video"));
const modeWord = (advanced) => (advanced ? say("advanced mode") : say("general mode"));

// ---- the connection pill ----

/** "Connected", "Connection lost · reconnecting in 3s", "Signed out · reload the page" */
export function connectionText(state, { reason, secondsLeft } = {}) {
  if (state === "connected") return say("Connected");
  if (state === "connecting") return say("Connecting…");
  if (state === "reconnecting") {
    return secondsLeft ? say("Connection lost · reconnecting in %(secs)ss", { secs: secondsLeft }) : say("Reconnecting…");
  }
  return reason === "unauthenticated" ? say("Signed out · reload the page") : say("Offline");
}

// ---- errors the server answers (ui.js errorText) ----

/** The words for an error reason the page knows, or "" (the server's message is shown then). */
export function errorWords(reason, { maxParticipants }) {
  const texts = {
    already_in_call: () => say("You are already in a call."),
    no_invitee_registered: () => say("None of these people exists."),
    too_many_participants: () => say("At most %(max)s people in one call, you included.", { max: maxParticipants }),
    disconnected: () => say("Not connected. Wait for the connection to come back."),
  };
  return texts[reason]?.() ?? "";
}

/** An invitee the server did not invite, and why: "erin was not invited (user offline)". */
export function notInvitedText(userID, reason) {
  const name = nameOf(userID);
  const texts = {
    user_offline: phrase("%(name)s was not invited (user offline)"),
    user_not_found: phrase("%(name)s was not invited (user not found)"),
    not_group_member: phrase("%(name)s was not invited (not a member of the group)"),
    already_in_call_member: phrase("%(name)s was not invited (already in the call)"),
  };
  if (texts[reason]) return say(texts[reason], { name });
  return say("%(name)s was not invited (%(reason)s)", { name, reason: reason.replaceAll("_", " ") });
}

// ---- people and members ----

export const peopleWords = {
  you: (userID) => say("%(name)s (you)", { name: nameOf(userID) }),
  callerRole: () => say("caller"),
  presence: (online) => (online ? say("Online") : say("Offline")),
  pickCount: (count, max) => say("%(count)s / %(max)s selected", { count, max }),
  pickingFrom: (group) => say("Picking from %(name)s; the call is placed in the group.", { name: group }),
  showEveryone: () => say("Show everyone"),
  inviteButton: (list) => (list.length ? say("Invite %(names)s", { names: list.map(nameOf).join(", ") }) : say("Invite")),
};

// ---- placing a call, and the outgoing view ----

export const outgoingWords = {
  alreadyInCall: () => say("You are already in a call. Leave it first."),
  /** The push message an invitee's browser shows while no tab of the site is open. */
  kind: (type, advanced, forever) => facts(type === "voice" ? say("Outgoing voice call") : say("Outgoing video call"),
    modeWord(advanced), forever && say("rings until answered")),
  title: (list) => say("Calling %(names)s", { names: list.map(nameOf).join(", ") }),
  mergedByGlare: (caller) => say("%(name)s was calling you at the same time: you are in their call", { name: nameOf(caller) }),
  youCancelled: () => say("You cancelled the call."),
  couldNotCancel: (error) => say("Could not cancel: %(error)s", { error }),
};

// ---- ringing: the incoming dialog, the call-waiting banner, the notification ----

export const incomingKind = (type) => (type === "voice" ? say("Incoming voice call") : say("Incoming video call"));
export const callingYou = (caller) => say("%(name)s is calling you", { name: nameOf(caller) });

export const ringingWords = {
  waitingKind: (type, more) => facts(type === "voice" ? say("voice call") : say("video call"),
    more > 0 && sayN("%(count)s more waiting", "%(count)s more waiting", more)),
  withOthers: (list) => (list.length ? say("With %(names)s", { names: list.map(nameOf).join(", ") }) : say("Only you are invited")),
  moreWaiting: (n) => sayN("%(count)s more call waiting", "%(count)s more calls waiting", n),
  ringsUntilAnswered: () => say("Rings until answered"),
  ringsFor: (secs) => sayN("Rings for %(count)s more second", "Rings for %(count)s more seconds", secs),
  ringtoneButton: (muted) => (muted ? say("Unmute ringtone") : say("Mute ringtone")),
  dismissedHere: (caller) => say("Dismissed here; %(name)s's call still rings on your other devices", { name: nameOf(caller) }),
  couldNotAccept: (error) => say("Could not accept: %(error)s", { error }),
  couldNotReject: (error) => say("Could not reject: %(error)s", { error }),
  autoBusy: (caller) => say("Rejected %(name)s as busy (auto)", { name: nameOf(caller) }),
  /** Ringing stopped here because this user answered on another tab or device. */
  handledElsewhere: (state) => (state === S.Accepted ? say("Answered on another tab or device")
    : state === S.Rejected ? say("Declined on another tab or device") : say("Handled on another tab or device")),
};

// ---- the in-call view ----

export const inCallWords = {
  kind: (type, advanced) => facts(type === "voice" ? say("Voice call") : say("Video call"), modeWord(advanced)),
  generalNote: () => say("General mode: the invitation is complete; Hang up closes the call on this side."),
  ringAgainButton: () => say("Ring again"),
  couldNotRing: (userID, error) => say("Could not ring %(name)s: %(error)s", { name: nameOf(userID), error }),
  couldNotLeave: (error) => say("Could not leave: %(error)s", { error }),
  couldNotEnd: (error) => say("Could not end: %(error)s", { error }),
  endedForEveryone: () => say("Call ended for everyone"),
  hungUp: () => say("Hung up"),
  ended: (by) => (by ? say("Call ended by %(name)s", { name: nameOf(by) }) : say("Call ended")),
  gone: () => say("The call is gone"),
};

// ---- a call this user is in on another tab or device ----

export const elsewhereWords = {
  with: (list) => (list.length ? list.map(nameOf).join(", ") : say("nobody yet")),
  rejoinHere: () => say("Rejoin here"),
  leave: () => say("Leave"),
  endForEveryone: () => say("End for everyone"),
  couldNotLeave: (error) => say("Could not leave the call: %(error)s", { error }),
  couldNotEnd: (error) => say("Could not end the call: %(error)s", { error }),
  couldNotMoveHere: (error) => say("Could not move the call here: %(error)s", { error }),
  movedAway: () => say("The call moved to another tab or device"),
};

// ---- media: tiles, controls, devices ----

export const mediaWords = {
  peerState: (conn) => ({
    connecting: () => say("Connecting…"), reconnecting: () => say("Reconnecting…"),
    failed: () => say("Failed"), connected: () => say("In call"),
  })[conn]?.() ?? "",
  muted: () => say("Muted"),
  you: () => say("You"),
  micOffTitle: () => say("Microphone off"),
  micOffLabel: () => say("microphone off"),
  muteButton: (muted) => (muted ? say("Unmute") : say("Mute")),
  cameraButton: (off) => (off ? say("Camera on") : say("Camera off")),
  device: (n) => say("Device %(n)s", { n }),
  couldNotSwitch: (kind, error) => (kind === "audio"
    ? say("Could not switch the microphone (%(error)s).", { error })
    : say("Could not switch the camera (%(error)s).", { error })),
  noCamera: () => say("No camera available (or not allowed): the others hear you but do not see you."),
  noMicrophone: () => say("No microphone available (or not allowed): the others see you but do not hear you."),
  notAllowed: () => say("Microphone and camera are not allowed for this site (browser settings): you see and hear the others, they do not hear or see you."),
  notFound: () => say("No microphone or camera found: you see and hear the others, they do not hear or see you."),
  notStarted: (error) => say("The microphone or camera could not start (%(error)s): you see and hear the others, they do not hear or see you.", { error }),
  screenButton: (sharing) => (sharing ? say("Stop sharing") : say("Share screen")),
  presenting: (userID) => say("%(name)s is presenting", { name: nameOf(userID) }),
  oneAtATime: (userID) => say("One screen at a time: you can share yours once %(name)s stops.", { name: nameOf(userID) }),
  screenTaken: (userID) => say("%(name)s started sharing a screen at the same moment; yours stopped.", { name: nameOf(userID) }),
  couldNotShare: (error) => say("Could not share the screen (%(error)s).", { error }),
  yourScreen: () => say("Your screen"),
  screenOf: (userID) => say("%(name)s's screen", { name: nameOf(userID) }),
  meshStruggles: (count) => say("%(count)s people in this video call: each browser sends its video to every other one directly (this site has no media server), so video may stutter or freeze on a slow connection or computer. Turning cameras off helps.", { count }),
};

// ---- groups ----

export const groupWords = {
  online: (online, others) => sayN("%(online)s of %(count)s other online", "%(online)s of %(count)s others online", others, { online }),
  callGroup: () => say("Call group"),
  callGroupLabel: (group) => say("Call everyone online in %(name)s", { name: group }),
  pickMembers: () => say("Pick members"),
  pickMembersLabel: (group) => say("Pick members of %(name)s", { name: group }),
  runningCalls: (group) => say("Running calls in %(name)s", { name: group }),
  call: (caller, type, count) => facts(type === "voice" ? say("%(name)s's voice call", { name: nameOf(caller) })
    : say("%(name)s's video call", { name: nameOf(caller) }), say("%(count)s in call", { count })),
  inIt: (list) => say("(%(names)s)", { names: list.map(nameOf).join(", ") }),
  join: () => say("Join"),
  joinLabel: (caller) => say("Join %(name)s's call", { name: nameOf(caller) }),
  youAreInIt: () => say("You are in it"),
  couldNotJoin: (error) => say("Could not join: %(error)s", { error }),
};

// ---- the missed-calls panel ----

export const missedWords = {
  /** Why a call counts as missed (missed.js missedWhy's reason). */
  why: (reason) => ({
    timeout: () => say("no answer"), caller_offline: () => say("caller went offline"),
    cancelled: () => say("cancelled"), ended: () => say("ended"),
  })[reason]?.() ?? "",
  line: (type, reason, at) => facts(kindWord(type), missedWords.why(reason), at),
  /** Who answered it and how long it lasted ("" while nobody answered and it goes on). */
  detail: (answered, lasted) => {
    if (!answered.length) return lasted !== null ? say("nobody answered") : "";
    return facts(say("answered by %(names)s", { names: answered.map(nameOf).join(", ") }), lasted ?? say("still going"));
  },
  callBackLabel: (caller) => say("Call %(name)s back", { name: nameOf(caller) }),
  dismiss: () => say("Dismiss"),
  dismissLabel: (caller) => say("Dismiss the missed call from %(name)s", { name: nameOf(caller) }),
};

// ---- the settings panel: notifications and push ----

export const settingsWords = {
  noNotifications: () => say("This browser has no notifications."),
  notificationsOn: () => say("Notifications are on: an incoming call is announced while this tab is hidden."),
  notificationsBlocked: () => say("Notifications are blocked for this site (browser settings)."),
  allowNotifications: () => say("Allow notifications to hear about calls while this tab is hidden."),
  noPush: () => say("This browser cannot receive push messages."),
  allowFirst: () => say("Notifications are blocked for this site: allow them in the browser's settings first."),
  workerNotStarted: () => say("The service worker did not start; reload the page and try again."),
  noPushServiceAnswer: () => say("This browser has no push service available (it did not answer), so it cannot ring while the site is closed."),
  noPushService: (why) => say("This browser has no push service available (%(why)s), so it cannot ring while the site is closed.", { why }),
  pushOn: () => say("On: this browser rings for calls even when no tab of the site is open."),
  turningOn: () => say("Turning on…"),
  turningOff: () => say("Turning off…"),
  serverAnswered: (status) => say("the server answered %(status)s", { status }),
};

// ---- do not disturb: the status control and quiet invitations ----

export const statusWords = {
  available: () => say("Available"),
  dnd: () => say("Do not disturb"),
  /** The status shown while a dnd ends by itself: "Do not disturb until 15:30". */
  dndUntil: (time) => say("Do not disturb until %(time)s", { time }),
  dndUntilTomorrow: (time) => say("Do not disturb until tomorrow %(time)s", { time }),
  couldNotSet: (error) => say("Could not change your status: %(error)s", { error }),
  quietCount: (n) => sayN("%(count)s call is waiting quietly (do not disturb)", "%(count)s calls are waiting quietly (do not disturb)", n),
  quietKind: (type) => facts(type === "voice" ? say("voice call") : say("video call"), say("not ringing: do not disturb")),
  decline: () => say("Decline"),
  answer: () => say("Answer"),
  busy: () => say("Busy"),
  leaveAndAnswer: () => say("Leave & answer"),
};

// ---- sounds: the ringtone and where sounds play ----

export const soundWords = {
  ringtoneName: (name) => ({ classic: () => say("Classic"), chime: () => say("Chime"), pulse: () => say("Pulse") })[name]?.() ?? name,
  preview: (playing) => (playing ? say("Stop") : say("Play")),
  previewLabel: (playing) => (playing ? say("Stop the ringtone") : say("Play the ringtone")),
  defaultOutput: () => say("System default"),
  output: (n) => say("Output %(n)s", { n }),
  noOutputChoice: () => say("This browser plays sounds on its default output only."),
};

// ---- connection quality, per tile ----

export const qualityWords = {
  mark: (grade) => ({
    good: () => say("Good connection"), fair: () => say("Fair connection"), poor: () => say("Poor connection"),
  })[grade]?.() ?? say("Connection quality not known yet"),
  /** Measured here: what this side receives from `name` (round trip, loss, jitter). */
  detail: (rttMs, lossPct, jitterMs) => say("round trip %(rtt)s ms · loss %(loss)s · jitter %(jitter)s ms",
    { rtt: rttMs, loss: `${lossPct}%`, jitter: jitterMs }),
  unstable: (userID) => say("%(name)s's connection is unstable", { name: nameOf(userID) }),
};

