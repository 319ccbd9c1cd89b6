"""The translations are whole, and stay so: every sentence in the .po files is translated
with the same placeholders and markup; every sentence the page's scripts say is in
djangojs.po and every sentence the templates and the site's Python mark is in django.po (so
a new English sentence without its translation fails here); the committed .mo files are
the .po files compiled; the app icons are what scripts/make_icons.py makes (pixel for pixel)."""

import importlib.util
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TAG = re.compile(r"</?\w+")


def _load_messages_script():
    spec = importlib.util.spec_from_file_location("messages_script", ROOT / "scripts" / "messages.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


messages = _load_messages_script()


def entries(domain: str) -> list[polib.POEntry]:
    return [e for e in polib.pofile(str(LOCALE / f"{domain}.po")) if not e.obsolete]


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_sentence_is_translated_with_its_placeholders_and_markup(domain):
    problems = []
    for entry in entries(domain):
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        if "fuzzy" in entry.flags or not all(translations):
            problems.append(f"untranslated: {entry.msgid!r}")
            continue
        for text in translations:
            if set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(entry.msgid)):
                problems.append(f"placeholders differ: {entry.msgid!r} -> {text!r}")
            if sorted(TAG.findall(text)) != sorted(TAG.findall(entry.msgid)):
                problems.append(f"markup differs: {entry.msgid!r} -> {text!r}")
    assert not problems, "\n".join(problems)


def test_every_sentence_the_scripts_say_is_in_the_catalog():
    said = messages.js_sentences()
    assert len(said) > 200  # the collector finds the page's sentences at all
    assert "%(name)s is calling" in said and "Keys: %(accept)s accepts, %(decline)s declines" in said
    catalog = {e.msgid: e.msgid_plural or None for e in entries("djangojs")}
    missing = [text for text in said if text not in catalog]
    assert not missing, "not in djangojs.po (python scripts/messages.py, then translate):\n" + "\n".join(missing)
    wrong_plural = [text for text, plural in said.items() if catalog[text] != plural]
    assert not wrong_plural, wrong_plural
    # the collector reads "double-quoted" sentences: one in 'single' quotes or a `template` would be missed
    other_quotes = re.compile(r"\b(?:say|sayN|phrase)\(\s*['`]")
    odd = [str(p) for p in (ROOT / "static" / "js").rglob("*.js") if other_quotes.search(p.read_text(encoding="utf-8"))]
    assert not odd, odd


TEMPLATE_SENTENCE = re.compile(r"""{%\s*translate\s+(["'])(.+?)\1(?:\s+context\s+(["'])(.+?)\3)?\s*%}""")
PYTHON_SENTENCE = re.compile(r"""\b(?:_|gettext_lazy|gettext)\(\s*(["'])(.+?)(?<!\\)\1\s*\)""")


def test_every_sentence_the_templates_and_the_sites_python_mark_is_in_the_catalog():
    known = {(e.msgctxt, e.msgid) for e in entries("django")}
    marked = set()
    for template in (ROOT / "templates").rglob("*.html"):
        for match in TEMPLATE_SENTENCE.finditer(template.read_text(encoding="utf-8")):
            marked.add((match.group(4), match.group(2)))
    for module in (ROOT / "invitations" / "web").rglob("*.py"):
        for match in PYTHON_SENTENCE.finditer(module.read_text(encoding="utf-8")):
            marked.add((None, match.group(2).replace("\\'", "'")))
    assert len(marked) > 150
    missing = sorted(text for text in marked if text not in known)
    assert not missing, "not in django.po (python scripts/messages.py, then translate):\n" + "\n".join(
        map(str, missing)
    )


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_the_committed_mo_files_are_the_po_files_compiled(domain):
    def table(catalog) -> dict:
        return {
            (e.msgctxt, e.msgid): (tuple(sorted(e.msgstr_plural.items())) if e.msgid_plural else e.msgstr)
            for e in catalog
            if e.msgid
        }

    compiled = polib.mofile(str(LOCALE / f"{domain}.mo"))
    assert table(compiled) == table(entries(domain)), "run python scripts/messages.py compile"


def test_the_app_icons_are_what_the_script_makes(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_icons.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    icons = ROOT / "static" / "icons"
    made = sorted(p.name for p in tmp_path.glob("*.png"))
    assert (
        made
        == sorted(p.name for p in icons.glob("*.png"))
        == [
            "icon-192.png",
            "icon-512.png",
            "icon-maskable-512.png",
        ]
    )
    for name in made:  # the same header and pixels (zlib builds may pack the same pixels differently)
        assert png_pixels((tmp_path / name).read_bytes()) == png_pixels((icons / name).read_bytes()), name


def png_pixels(data: bytes) -> tuple[bytes, bytes]:
    """(IHDR, the decompressed image data) of a PNG file."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    header, image, at = b"", b"", 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            image += body
        at += 12 + length
    return header, zlib.decompress(image)
