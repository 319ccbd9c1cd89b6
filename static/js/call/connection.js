// The connection pill: connected / reconnecting (with a countdown and "Retry now") / offline.
import { store, zim } from "./store.js";
import { refreshUsers } from "./people.js";
import { $ } from "./ui.js";
import { connectionText } from "./words.js";

const retry = { tick: null };

function showConnection({ state, delay, reason }) {
  const pill = $("#conn-state");
  clearInterval(retry.tick);
  pill.dataset.state = state;
  $("#conn-retry").hidden = state !== "reconnecting";
  pill.textContent = connectionText(state, { reason });
  if (state === "reconnecting" && delay) {
    const until = Date.now() + delay;
    const show = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      pill.textContent = connectionText(state, { secondsLeft: left });
    };
    show();
    retry.tick = setInterval(show, 500);
  }
  $("#call-start").disabled = state !== "connected" || store.picked.size === 0;
  if (state === "connected") refreshUsers();
}

export function initConnection() {
  zim.on("connectionStateChanged", showConnection);
  $("#conn-retry").addEventListener("click", () => zim.retryNow());
}
