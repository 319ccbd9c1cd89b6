// <call-kit>: the kit's element. Its shadow root holds the kit's views (markup.js) with the
// site's stylesheet and the kit's own (static/callkit/kit.css): the host page's CSS does not
// reach in, the kit's does not leak out. The root is open, so the page's tools and tests
// (Playwright's CSS selectors pierce open shadow roots) reach the views.
import { kitMarkup } from "./markup.js";

const STYLESHEETS = [
  new URL("../../css/app.css", import.meta.url).href,
  new URL("../../callkit/kit.css", import.meta.url).href,
];

export class CallKitElement extends HTMLElement {
  constructor() {
    super();
    if (!this.shadowRoot) this.attachShadow({ mode: "open" });
  }

  /** The views, once per element (the views keep their listeners on these nodes). */
  render() {
    if (this.shadowRoot.querySelector("#incoming")) return;
    this.shadowRoot.innerHTML = kitMarkup({ stylesheets: STYLESHEETS, style: "" });
  }

  /** CSS of the kit's configuration (the buttons it hides), in the shadow root. */
  set configStyle(css) {
    this.shadowRoot.querySelector("style").textContent = css;
  }
}

if (!customElements.get("call-kit")) customElements.define("call-kit", CallKitElement);
