// The sentences of the installed app: the incoming dialog's keys, the Home Screen note for
// iPhone and iPad, and the words the service worker's notifications use (static/sw.js WORDS).
// Written as in words.js (say, sayN, phrase), so scripts/messages.py collects them too.
import { phrase, say } from "./words.js";

// ---- the incoming dialog's keys ----

export const keyWords = {
  /** Under the dialog's buttons, %(accept)s and %(decline)s are the keys (drawn as <kbd>). */
  hint: () => phrase("Keys: %(accept)s accepts, %(decline)s declines"),
};

// ---- iPhone and iPad: Web Push reaches a site only from the Home Screen ----

export const homeScreenWords = {
  needed: () => say("On iPhone and iPad, a site can ring you while it is closed only once it is on the Home Screen (iOS 16.4 or later)."),
  /** %(share)s is the Share icon. */
  howTo: () => phrase("In Safari, tap Share %(share)s, then “Add to Home Screen”; open the site from its new icon and turn this on there."),
  tooOld: () => say("This iPhone or iPad runs iOS older than 16.4, which cannot ring a closed site: keep a tab open to be rung."),
};

// ---- the service worker's notifications (static/sw.js WORDS), in the page's language ----

/** {accept, reject, calling, ...}: placeholders kept for the worker to fill. */
export function notificationWords() {
  const name = "%(name)s";
  return {
    accept: say("Accept"),
    reject: say("Reject"),
    calling: say("%(name)s is calling", { name }),
    videoCall: say("Video call"),
    voiceCall: say("Voice call"),
    missedFrom: say("Missed call from %(name)s", { name }),
    someone: say("Someone"),
    hungUpFirst: say("The caller hung up before you answered."),
    nobodyAnswered: say("Nobody answered in time."),
  };
}
