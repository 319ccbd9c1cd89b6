// People: the searchable user list with presence, and picking whom to call.
import { LIMITS, changed, store, zim } from "./store.js";
import { $, avatar, el } from "./ui.js";

const search = { seq: 0, timer: null };

export async function refreshUsers() {
  const mine = ++search.seq;
  try {
    const { users: list } = await zim.queryUsers($("#user-search").value.trim(), 100);
    if (mine !== search.seq) return;
    store.users.clear();
    for (const u of list) store.users.set(u.userID, u);
    renderUsers();
    changed("users");
  } catch (err) {
    console.warn("queryUsers", err);
  }
}

export function sortedUsers() {
  return [...store.users.values()].sort((a, b) => (b.online - a.online) || a.userID.localeCompare(b.userID));
}

/** A person with a checkbox; `name` prefixes the box's id (pick-bob, invite-bob). */
export function userRow(u, { selected, disabled, name, onchange }) {
  const id = `${name}-${u.userID}`;
  return el("li", { class: "user", dataset: { user: u.userID, online: u.online ? "1" : "0" } },
    el("input", { type: "checkbox", id, checked: selected, disabled: disabled && !selected, onchange }),
    el("label", { for: id },
      avatar(u.userID),
      el("span", { class: "who" }, el("span", { class: "name" }, u.name || u.userID),
        u.name && u.name !== u.userID ? el("span", { class: "muted small" }, ` @${u.userID}`) : null),
      el("span", { class: `presence ${u.online ? "on" : "off"}` }, u.online ? "Online" : "Offline")));
}

/** The rows of `list` as checkboxes bound to the set `chosen`, at most `room` chosen. */
export function pickList(list, { chosen, room, name, rerender }) {
  const full = chosen.size >= room;
  return list.map((u) => userRow(u, {
    selected: chosen.has(u.userID), disabled: full, name,
    onchange: (ev) => {
      if (ev.target.checked) chosen.add(u.userID); else chosen.delete(u.userID);
      rerender();
      // keep focus on the same box after the re-render (keyboard users)
      document.getElementById(`${name}-${u.userID}`)?.focus();
    },
  }));
}

export function renderUsers() {
  const { picked } = store;
  $("#user-list").replaceChildren(...pickList(sortedUsers(), { chosen: picked, room: LIMITS.maxInvitees, name: "pick", rerender: renderUsers }));
  $("#user-empty").hidden = store.users.size > 0;
  $("#pick-count").textContent = `${picked.size} / ${LIMITS.maxInvitees} selected`;
  const start = $("#call-start");
  start.disabled = picked.size === 0 || zim.state !== "connected";
  start.textContent = picked.size ? `Call ${[...picked].join(", ")}` : "Call";
}

export function initPeople() {
  $("#user-search").addEventListener("input", () => {
    clearTimeout(search.timer);
    search.timer = setTimeout(refreshUsers, 200);
  });
  zim.on("userPresenceChanged", ({ userID, online }) => {
    const u = store.users.get(userID);
    if (u) {
      u.online = online;
      renderUsers();
      changed("users");
    } else if (online) {
      refreshUsers();
    }
  });
  renderUsers();
}
