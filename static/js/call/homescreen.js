// iPhone and iPad: Safari gives Web Push only to a site added to the Home Screen and opened
// from there (iOS 16.4 and later). In a Safari tab, "Ring me when this site is closed" says
// so and shows how, instead of failing.
import { $ } from "./ui.js";
import { homeScreenWords as words } from "./appwords.js";
import { say } from "./words.js";

/** iOS 16.4 -> [16, 4]; null when the browser is not on an iPhone or iPad. iPadOS asks for the
 * desktop site by default and says "Macintosh": a Mac with a touch screen is an iPad. */
export function iosVersion(nav = navigator) {
  const ua = nav.userAgent || "";
  const ipad = /Macintosh/.test(ua) && nav.maxTouchPoints > 1;
  if (!/iPhone|iPad|iPod/.test(ua) && !ipad) return null;
  const match = /OS (\d+)[_.](\d+)/.exec(ua) || /Version\/(\d+)\.(\d+)/.exec(ua);
  return match ? [Number(match[1]), Number(match[2])] : [0, 0];
}

/** Opened from the Home Screen (or installed elsewhere), not in a browser tab. */
export function standalone(nav = navigator, win = globalThis) {
  return nav.standalone === true || Boolean(win.matchMedia?.("(display-mode: standalone)").matches);
}

/** "add": push works once the site is on the Home Screen; "too-old": never on this iOS; "" otherwise. */
export function homeScreenNeed(nav = navigator, win = globalThis) {
  const version = iosVersion(nav);
  if (!version || standalone(nav, win)) return "";
  const [major, minor] = version;
  return major > 16 || (major === 16 && minor >= 4) || major === 0 ? "add" : "too-old";
}

const SHARE_ICON = '<svg class="icon" viewBox="0 0 24 24" role="img"><path d="M12 2 7.5 6.5l1.4 1.4L11 5.8V15h2V5.8l2.1 2.1 1.4-1.4zM5 10v10a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V10h-3v2h1v8H7v-8h1v-2z"/></svg>';

/** Show the note in Settings when this device needs it; true when it does (push stays off then). */
export function renderHomeScreenNote() {
  const need = homeScreenNeed();
  const note = $("#push-homescreen");
  note.hidden = !need;
  if (!need) return false;
  note.replaceChildren();
  const first = document.createElement("p");
  first.textContent = need === "add" ? words.needed() : words.tooOld();
  note.append(first);
  if (need === "add") {
    const how = document.createElement("p");
    const [before, after = ""] = say(words.howTo(), { share: "\u0000" }).split("\u0000");
    const icon = document.createElement("span");
    icon.className = "share-icon";
    icon.innerHTML = SHARE_ICON;
    icon.firstElementChild.setAttribute("aria-label", say("Share"));
    how.append(before, icon, after);
    note.append(how);
  }
  return true;
}
