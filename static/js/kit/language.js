// The kit's sentences in an app's own words: config.words {"English sentence": "the app's"}
// replaces any sentence the kit shows (UIKit's innerText), placeholders such as %(name)s kept.
// words.js reads globalThis.gettext when it loads, so the kit's public entry
// (static/callkit/callkit.js) installs this lookup before it loads the kit; a catalog the
// page already has (Django's JavaScriptCatalog) still answers what the app does not replace.
const own = new Map();

export function installWords() {
  if (globalThis.gettext?.callkit) return;
  const base = globalThis.gettext;
  const baseN = globalThis.ngettext;
  const gettext = (text) => own.get(text) ?? (base ? base(text) : text);
  gettext.callkit = true;
  globalThis.gettext = gettext;
  globalThis.ngettext = (one, many, n) => own.get(n === 1 ? one : many) ?? (baseN ? baseN(one, many, n) : n === 1 ? one : many);
}

/** The app's replacements (all of them: earlier ones go). */
export function setWords(words) {
  own.clear();
  for (const [text, replacement] of Object.entries(words || {})) {
    if (typeof replacement === "string") own.set(text, replacement);
  }
}
