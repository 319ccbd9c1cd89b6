"""The site's translations: collect the sentences into the .po files, compile the .mo files.

    python scripts/messages.py          # collect, then compile
    python scripts/messages.py compile  # compile only (after editing a .po by hand)

- djangojs (the call page, the kit): every sentence said through say(), sayN() or phrase() in
  static/js (and t() / around() in static/js/kit/markup.js), read from the source here.
- django (templates, the /calls/ pages' words, the admin's additions, the manifest): Django's
  makemessages, which needs GNU gettext's xgettext (Debian: gettext); without it this part
  is left as it is and the script says so.

New sentences come in untranslated (tests/site/test_translations.py then fails until they
are translated); sentences no longer said are dropped. The compiled .mo files are committed,
so neither the site nor the tests need gettext: polib compiles them here.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ["zh_Hans"]
LOCALE_DIR = ROOT / "locale"
JS_ROOT = ROOT / "static" / "js"
MARKUP = JS_ROOT / "kit" / "markup.js"

_STRING = r'"((?:[^"\\]|\\.)*)"'
_SAY = re.compile(r"\b(?:say|phrase)\(\s*" + _STRING)
_SAY_N = re.compile(r"\bsayN\(\s*" + _STRING + r"\s*,\s*" + _STRING)
_MARKUP = re.compile(r"(?<![\w.])(?:t|around)\(\s*" + _STRING)
HEADER = "The site's sentences in one language (scripts/messages.py collects them; translate each msgstr)."
MAKEMESSAGES_IGNORE = [".venv", "node_modules", "bench", "var", "tests", "examples", "docs", "static", "scripts"]


def _js_string(text: str) -> str:
    return json.loads(f'"{text}"')


def js_sentences() -> dict[str, str | None]:
    """{msgid: msgid_plural or None} for every sentence the page's scripts say, in source order."""
    found: dict[str, str | None] = {}
    for path in sorted(JS_ROOT.rglob("*.js")):
        source = path.read_text(encoding="utf-8")
        for match in _SAY_N.finditer(source):
            found[_js_string(match.group(1))] = _js_string(match.group(2))
        patterns = [_SAY, _MARKUP] if path == MARKUP else [_SAY]
        for pattern in patterns:
            for match in pattern.finditer(source):
                found.setdefault(_js_string(match.group(1)), None)
    return found


def po_path(locale: str, domain: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"


def _header(locale: str) -> dict[str, str]:
    return {
        "Project-Id-Version": "callsite",
        "Language": locale,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
        "Plural-Forms": "nplurals=1; plural=0;" if locale.startswith("zh") else "nplurals=2; plural=(n != 1);",
    }


def collect_js(locale: str) -> tuple[int, int]:
    """Merge the scripts' sentences into djangojs.po: keep translations, add new, drop gone."""
    path = po_path(locale, "djangojs")
    old = polib.pofile(str(path)) if path.exists() else polib.POFile()
    known = {entry.msgid: entry for entry in old if not entry.obsolete}
    po = polib.POFile(wrapwidth=0)
    po.header = HEADER
    po.metadata = _header(locale)
    added = 0
    for msgid, plural in js_sentences().items():
        entry = known.get(msgid)
        if entry is None:
            added += 1
            entry = polib.POEntry(msgid=msgid, msgstr="")
            if plural is not None:
                entry = polib.POEntry(msgid=msgid, msgid_plural=plural, msgstr_plural={0: ""})
        po.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    po.save(str(path))
    return added, len(known) - (len(po) - added)


def collect_django(locale: str) -> bool:
    if not shutil.which("xgettext"):
        print("xgettext not found (Debian: apt-get install gettext): django.po left as it is", file=sys.stderr)
        return False
    args = [sys.executable, "manage.py", "makemessages", "-l", locale, "-d", "django", "--no-location", "--no-obsolete"]
    args += [f"--ignore={name}/*" for name in MAKEMESSAGES_IGNORE]
    # the settings want a PostgreSQL URL; makemessages never connects to it
    env = {"DATABASE_URL": "postgres://localhost/unused", **os.environ, "DEBUG": "1"}
    subprocess.run(args, cwd=ROOT, check=True, env=env)
    # makemessages leaves a template header (and a fuzzy flag on it) for a new language
    path = po_path(locale, "django")
    po = polib.pofile(str(path), wrapwidth=0)
    po.header = HEADER
    po.metadata = _header(locale)  # without the dates and names that would change with every run
    po.metadata_is_fuzzy = False
    po.save(str(path))
    return True


def compile_all() -> list[Path]:
    done = []
    for po_file in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        po = polib.pofile(str(po_file))
        mo_file = po_file.with_suffix(".mo")
        po.save_as_mofile(str(mo_file))
        done.append(mo_file)
    return done


def main() -> None:
    if sys.argv[1:] != ["compile"]:
        for locale in LOCALES:
            added, dropped = collect_js(locale)
            print(f"{po_path(locale, 'djangojs')}: {added} new, {dropped} dropped")
            if collect_django(locale):
                print(f"{po_path(locale, 'django')}: collected by makemessages")
    for mo_file in compile_all():
        print(f"compiled {mo_file.relative_to(ROOT)}")
    for locale in LOCALES:
        for domain in ("django", "djangojs"):
            path = po_path(locale, domain)
            if path.exists():
                missing = [e.msgid for e in polib.pofile(str(path)) if not e.translated() and not e.obsolete]
                if missing:
                    print(f"{path.relative_to(ROOT)}: {len(missing)} untranslated", file=sys.stderr)


if __name__ == "__main__":
    main()
