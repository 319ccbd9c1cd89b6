// The site page's new-call form: the people picked, voice or video, mode, ring time.
import { store } from "./store.js";
import { placeCall } from "./outgoing.js";
import { $, chosenTimeout } from "./ui.js";

export function initCallForm() {
  $("#call-until-answered").addEventListener("change", (ev) => { $("#call-timeout").disabled = ev.target.checked; });
  $("#call-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!store.picked.size) return;
    const type = new FormData(ev.target).get("type") || "video";
    await placeCall([...store.picked], { type, mode: Number($("#call-mode").value), timeout: chosenTimeout(),
      groupID: store.pickedGroup }, $("#call-error"));
  });
}
