// People: the searchable user list with presence, and picking whom to call.
import { LIMITS, on, pick, pickFromGroup, presenceChanged, setUsers, store, zim } from "./store.js";
import { $, avatar, el } from "./ui.js";
import { W, peopleWords as words } from "./words.js";

const search = { seq: 0, timer: null };
/** People named by a link such as /?call=bob&type=voice (My calls' Call back): picked once the list is read. */
const prefill = { names: null };

export async function refreshUsers() {
  const mine = ++search.seq;
  try {
    const { users: list } = await zim.queryUsers($("#user-search").value.trim(), 100);
    if (mine !== search.seq) return;
    setUsers(list); // the people list (and the invite dialog) render
    applyPrefill();
  } catch (err) {
    console.warn("queryUsers", err);
  }
}

export function sortedUsers() {
  return [...store.users.values()].sort((a, b) => (b.online - a.online) || a.userID.localeCompare(b.userID));
}

/** A person with a checkbox; `name` prefixes the box's id (pick-bob, invite-bob). */
export function userRow(u, { selected, disabled, name, onchange, why }) {
  const id = `${name}-${u.userID}`;
  const off = disabled && !selected;
  return el("li", { class: "user", dataset: { user: u.userID, online: u.online ? "1" : "0" }, title: off ? why : null },
    el("input", { type: "checkbox", id, checked: selected, disabled: off, onchange }),
    el("label", { for: id },
      avatar(u.userID),
      // the userID is the name shown everywhere (calls, tiles, My calls); a full name only adds to it
      el("span", { class: "who" }, el("span", { class: "name" }, u.userID),
        u.name && u.name.toLowerCase() !== u.userID.toLowerCase() ? el("span", { class: "muted small" }, u.name) : null),
      el("span", { class: `presence ${u.online ? "on" : "off"}` }, words.presence(u.online))));
}

/** The rows of `list` as checkboxes showing the set `chosen`, at most `room` chosen; a click calls onPick(userID, checked). */
export function pickList(list, { chosen, room, name, onPick, why }) {
  const full = chosen.size >= room;
  return list.map((u) => userRow(u, {
    selected: chosen.has(u.userID), disabled: full, name, why,
    onchange: (ev) => {
      onPick(u.userID, ev.target.checked);
      // keep focus on the same box after the re-render (keyboard users)
      $("#" + CSS.escape(`${name}-${u.userID}`))?.focus(); // in the kit too
    },
  }));
}

/** The group the people list is narrowed to ("Pick members" in the groups panel), or null. */
function pickingGroup() {
  return store.pickedGroup ? store.groups.find((g) => g.groupID === store.pickedGroup) || null : null;
}

export function renderUsers() {
  const { picked } = store;
  const group = pickingGroup();
  const members = group ? new Set(group.members.map((m) => m.userID)) : null;
  const list = sortedUsers().filter((u) => !members || members.has(u.userID));
  $("#user-list").replaceChildren(...pickList(list, { chosen: picked, room: LIMITS.maxInvitees, name: "pick",
    onPick: (userID, checked) => pick([userID], checked),
    why: W.fullTitle(LIMITS.maxInvitees) }));
  // the limit in words where the greyed-out people are
  const full = $("#pick-full");
  full.hidden = picked.size < LIMITS.maxInvitees;
  full.textContent = W.full(LIMITS.maxInvitees);
  const note = $("#group-picked");
  note.hidden = !group;
  if (group) {
    note.replaceChildren(words.pickingFrom(group.name), " ",
      el("button", { type: "button", class: "link small", id: "group-picked-clear",
        onclick: () => pickFromGroup(null) }, words.showEveryone()));
  }
  $("#user-empty").hidden = store.users.size > 0;
  $("#pick-count").textContent = words.pickCount(picked.size, LIMITS.maxInvitees);
  const problem = ringTimeProblem();
  const start = $("#call-start");
  start.disabled = picked.size === 0 || zim.state !== "connected" || Boolean(problem);
  start.textContent = picked.size ? W.callNames([...picked]) : W.call();
}

/** The ring time in words under the field: what is wrong with it, or what it applies to. */
function ringTimeProblem() {
  const field = $("#call-timeout");
  const note = $("#call-timeout-note");
  const forever = $("#call-until-answered").checked;
  const secs = Number(field.value);
  const bad = !forever && (field.value.trim() === "" || !Number.isInteger(secs) || secs < LIMITS.minTimeout || secs > LIMITS.maxTimeout);
  field.setAttribute("aria-invalid", String(bad));
  note.classList.toggle("error", bad);
  note.textContent = bad ? W.ringFor(LIMITS.minTimeout, LIMITS.maxTimeout) : forever ? W.ringForever() : W.ringForUsed(secs);
  return bad ? note.textContent : "";
}

/** Pick the people a /?call=bob,carol&type=voice link names (a click on Call still rings them). */
function applyPrefill() {
  if (!prefill.names) return;
  const known = prefill.names.filter((n) => store.users.has(n)).slice(0, LIMITS.maxInvitees);
  const unknown = prefill.names.filter((n) => !store.users.has(n));
  prefill.names = null;
  if (known.length) pick(known);
  const note = $("#call-prefilled");
  note.hidden = !known.length && !unknown.length;
  note.textContent = [known.length ? W.prefilled(known) : "", unknown.length ? W.notFound(unknown) : ""].filter(Boolean).join(" ");
  if (known.length) setTimeout(() => $("#call-start").focus(), 0);
}

function readPrefill() {
  const params = new URLSearchParams(location.search);
  const names = (params.get("call") || "").split(",").map((n) => n.trim()).filter(Boolean);
  if (!names.length) return;
  prefill.names = [...new Set(names)];
  const type = params.get("type") === "voice" ? "voice" : "video";
  $(`#call-${type}`).checked = true;
  history.replaceState(null, "", location.pathname); // a reload does not pick them again
}

export function initPeople() {
  on("users", renderUsers);
  on("picked", renderUsers);
  readPrefill();
  for (const [sel, type] of [["#call-timeout", "input"], ["#call-until-answered", "change"]]) $(sel).addEventListener(type, renderUsers);
  $("#user-search").addEventListener("input", () => {
    clearTimeout(search.timer);
    search.timer = setTimeout(refreshUsers, 200);
  });
  zim.on("userPresenceChanged", ({ userID, online }) => {
    // someone listed: the views re-render; someone new online: read the list again
    if (!presenceChanged(userID, online) && online) refreshUsers();
  });
  renderUsers();
}
