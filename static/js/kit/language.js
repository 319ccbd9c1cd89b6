// The kit's sentences in an app's language and words.
// - config.language ("zh-Hans", "en"...): the kit loads the site's catalog for it
//   (GET /api/i18n/<language>/, JSON; open to the registered app origins like the rest of
//   /api/) before it draws its markup; a language the site does not speak keeps English.
// - config.words {"English sentence": "the app's"} replaces any sentence the kit shows
//   (UIKit's innerText), placeholders such as %(name)s kept, over the catalog.
// words.js reads globalThis.gettext when it loads, so the kit's public entry
// (static/callkit/callkit.js) installs this lookup before it loads the kit; a catalog the
// page already has (Django's JavaScriptCatalog on the site's page) answers the rest.
const own = new Map();
const catalog = { words: new Map(), plural: null };

/** Which plural form of a catalog entry: nplurals=1 languages ("0", Chinese), else English's rule. */
function pluralIndex(n) {
  if (catalog.plural === "0") return 0;
  return n === 1 ? 0 : 1;
}

function fromCatalog(text, n) {
  const found = catalog.words.get(text);
  if (found === undefined) return undefined;
  if (!Array.isArray(found)) return found;
  return found[Math.min(pluralIndex(n), found.length - 1)];
}

export function installWords() {
  if (globalThis.gettext?.callkit) return;
  const base = globalThis.gettext;
  const baseN = globalThis.ngettext;
  const gettext = (text) => own.get(text) ?? fromCatalog(text, 1) ?? (base ? base(text) : text);
  gettext.callkit = true;
  globalThis.gettext = gettext;
  globalThis.ngettext = (one, many, n) => own.get(n === 1 ? one : many) ?? fromCatalog(one, n)
    ?? (baseN ? baseN(one, many, n) : n === 1 ? one : many);
}

/** The app's replacements (all of them: earlier ones go). */
export function setWords(words) {
  own.clear();
  for (const [text, replacement] of Object.entries(words || {})) {
    if (typeof replacement === "string") own.set(text, replacement);
  }
}

/** The site's catalog for `language` from `server` (an origin); "" forgets the one loaded. */
export async function loadLanguage(server, language) {
  catalog.words.clear();
  catalog.plural = null;
  if (!language) return;
  try {
    const response = await fetch(`${server}/api/i18n/${encodeURIComponent(language)}/`, { credentials: "omit" });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error?.message || `HTTP ${response.status}`);
    for (const [text, translated] of Object.entries(data.catalog || {})) catalog.words.set(text, translated);
    catalog.plural = data.plural ?? null;
  } catch (err) {
    console.warn(`call kit: no sentences for ${language}, English it is`, err);
  }
}
