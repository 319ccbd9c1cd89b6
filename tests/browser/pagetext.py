"""What a page says, as a person or a screen reader meets it: the text of every visible
element (open shadow roots included, so the call kit's views count) and the labels of
every element (aria-label, title, placeholder, alt), hidden or not.

Left out, because they are not sentences of the site: key caps (<kbd>), codes (<code>),
what is hidden from screen readers (aria-hidden: avatars' initials, icons), the language
switch's options (each language's own name), and the lists of the machine's devices.
"""

import re

SAYS = """(selector) => {
  const SKIP = "script, style, template, svg, kbd, code, [aria-hidden=true], #language-choice, #media-mic, #media-cam, #sound-output";
  const LABELS = ["aria-label", "title", "placeholder", "alt"];
  const found = [];
  const skipped = (el) => el.matches(SKIP);
  const visit = (node) => {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        const parent = child.parentElement;
        const text = child.textContent.trim();
        if (text && parent && parent.checkVisibility({ visibilityProperty: true, opacityProperty: false })) {
          found.push({ where: describe(parent), text });
        }
      } else if (child.nodeType === Node.ELEMENT_NODE && !skipped(child)) {
        for (const name of LABELS) {
          const value = child.getAttribute(name);
          if (value) found.push({ where: `${describe(child)}[${name}]`, text: value });
        }
        if (child.shadowRoot) visit(child.shadowRoot);
        visit(child);
      }
    }
  };
  const describe = (el) => el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}${el.className ? "." + String(el.className).split(" ")[0] : ""}`;
  const start = document.querySelector(selector);
  if (start.shadowRoot) visit(start.shadowRoot);
  visit(start);
  return found;
}"""

WORD = re.compile(r"[A-Za-z]{2,}")


def english_words(page, names: set[str], within: str = "body") -> list[str]:
    """Every word of two or more Latin letters the page shows (in `within`) that is not one
    of `names`, as "where: word (in its text)"; empty when the page speaks no English."""
    leaks = []
    for item in page.evaluate(SAYS, within):
        for word in WORD.findall(item["text"]):
            if word not in names:
                leaks.append(f"{item['where']}: {word!r} in {item['text']!r}")
    return leaks
