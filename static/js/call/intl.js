// Times and lengths the way the page's language writes them (Intl): the kit's config.language,
// else the document's lang (base.html writes the active Django language there).
const locale = { tag: "" };

/** The language the page speaks: the kit's config.language, else the document's lang ("zh-hans", "en"). */
export function setLanguage(tag) {
  locale.tag = tag || "";
}

function canonical(tag) {
  try {
    return Intl.getCanonicalLocales(tag)[0];
  } catch {
    return "";
  }
}

/** The page's language for Intl; a bare one ("en") takes the browser's own variant of it
 * ("en-GB": its clock and date order), a precise one ("zh-Hans") stays as it is. */
export function language() {
  const tag = canonical(locale.tag || globalThis.document?.documentElement.lang || "en") || "en";
  if (tag.includes("-")) return tag;
  const variant = (globalThis.navigator?.languages || []).map(canonical).find((l) => l.split("-")[0] === tag);
  return variant || tag;
}

/** "14:03" (or the locale's own way to write a time of day) */
export const clockTime = (ms) => new Intl.DateTimeFormat(language(), { hour: "2-digit", minute: "2-digit" }).format(ms);

/** "3 Dec 2026, 14:03", "2026年12月3日 14:03" */
export const dateAndTime = (ms) => new Intl.DateTimeFormat(language(), { dateStyle: "medium", timeStyle: "short" }).format(ms);

/** A call's length, "1:05" / "1:02:03", with the locale's digits. */
export function callLength(ms) {
  const secs = Math.max(0, Math.round(ms / 1000));
  const two = new Intl.NumberFormat(language(), { minimumIntegerDigits: 2, useGrouping: false });
  const one = new Intl.NumberFormat(language(), { useGrouping: false });
  const h = Math.floor(secs / 3600);
  const mm = Math.floor(secs / 60) % 60;
  return h ? `${one.format(h)}:${two.format(mm)}:${two.format(secs % 60)}` : `${one.format(mm)}:${two.format(secs % 60)}`;
}
