// What the call page says about calls, people and limits: every sentence in one place.
// Whole sentences with named placeholders (%(name)s), the form Django's JavaScriptCatalog
// reads (gettext + interpolate(text, params, true)), so a translation hooks in here only.
// The server pages' twin is invitations/words.py.
import { CallUserState as S } from "../zimclient.js";

const gettext = globalThis.gettext || ((text) => text);
const ngettext = globalThis.ngettext || ((one, many, n) => (n === 1 ? one : many));

/** say("%(name)s declined", {name: "bob"}) -> "bob declined" */
export function say(text, params = {}) {
  return gettext(text).replace(/%\((\w+)\)s/g, (_, key) => String(params[key] ?? ""));
}

export function sayN(one, many, count, params = {}) {
  return ngettext(one, many, count).replace(/%\((\w+)\)s/g, (_, key) => String({ count, ...params }[key] ?? ""));
}

/** "bob", "bob and carol", "bob, carol and dave" */
export function names(list) {
  if (list.length <= 1) return list.join("");
  return say("%(first)s and %(last)s", { first: list.slice(0, -1).join(", "), last: list[list.length - 1] });
}

/** A member's state as a short badge. */
export function stateWord(member) {
  if (member.state === S.Rejected && member.reason === "busy") return say("Busy");
  if (member.state === S.Cancelled && member.reason === "caller_offline") return say("Not rung: caller offline");
  if (member.state === S.Quit && member.reason === "offline") return say("Went offline");
  const words = {
    [S.Unknown]: "Not invited", [S.Inviting]: "Calling…", [S.Received]: "Ringing", [S.NotYetReceived]: "May be offline",
    [S.Accepted]: "In call", [S.Rejected]: "Declined", [S.Cancelled]: "Cancelled", [S.Timeout]: "No answer",
    [S.Quit]: "Left",
  };
  return say(words[member.state] ?? "Not invited");
}

/** What happened to one invitee, as a sentence part: "bob declined", "bob is busy". */
export function memberSentence(member) {
  const name = member.userID;
  if (member.state === S.Rejected) return say(member.reason === "busy" ? "%(name)s is busy" : "%(name)s declined", { name });
  const words = {
    [S.Timeout]: "%(name)s did not answer", [S.Cancelled]: "%(name)s was not rung any more",
    [S.Accepted]: "%(name)s answered", [S.Quit]: "%(name)s left", [S.NotYetReceived]: "%(name)s may be offline",
    [S.Received]: "%(name)s's phone is ringing", [S.Inviting]: "%(name)s is being called",
  };
  return say(words[member.state] ?? "%(name)s was not reached", { name });
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
  ringAgain: (name) => say("Ring %(name)s again", { name }),
  ringAgainTitle: (secs) => (secs ? say("Rings for %(secs)s s (the “Ring for” time)", { secs }) : say("Rings until answered")),
};

// ---- people leaving a call ----

/** "bob left", "bob left (connection lost)", "bob left (hung up)" */
export function leftText(userID, reason) {
  if (reason === "offline") return say("%(name)s left (connection lost)", { name: userID });
  if (reason === "hung_up") return say("%(name)s left (hung up)", { name: userID });
  return say("%(name)s left", { name: userID });
}

export const hungUpText = (userID, reason) => say("%(left)s · call ended", { left: leftText(userID, reason) });
export const aloneTitle = () => say("Everyone else left");
export const aloneNote = (advanced) => (advanced
  ? say("You are the only one left in this call. End it when you are done.")
  : say("You are the only one left in this call. Hang up when you are done."));
export const selfAwayText = () => say("You were away too long and left the call");
export const selfLeftText = () => say("You left the call");

// ---- missed calls ----

export const missedToast = (from, kindWord) => say("Missed %(kind)s call from %(name)s", { kind: kindWord, name: from });
export const missedCountText = (n) => sayN("%(count)s missed call", "%(count)s missed calls", n);
