// Groups: the user's groups (operators make them in the admin), calling everyone
// online in a group or picking members from it, and each group's running calls
// with a Join button. Calls of a group reach only the members in them, so the
// running calls are re-read now and then, and after any event of a group call.
import { CallMode } from "../zimclient.js";
import { LIMITS, ME, callType, inCall, mergeMembers, on, store, upsertCall, zim,
  enterCall, pickFromGroup, setGroupCalls, setGroups, stopRinging } from "./store.js";
import { renderUsers } from "./people.js";
import { placeCall } from "./outgoing.js";
import { hangUpActive } from "./stage.js";
import { $, chosenTimeout, el, errorText, toast } from "./ui.js";
import { groupWords as words } from "./words.js";

const POLL_MS = 5000;
const poll = { timer: null, soon: null };

export const groupOf = (groupID) => store.groups.find((g) => g.groupID === groupID) || null;

export async function refreshGroups() {
  try {
    const { groupList } = await zim.queryGroups();
    setGroups(groupList);
    await refreshGroupCalls();
  } catch (err) {
    console.warn("queryGroups", err);
  }
  renderGroups();
  renderUsers();
}

async function refreshGroupCalls() {
  const lists = await Promise.all(store.groups.map((g) => zim.queryGroupCalls(g.groupID)
    .then((r) => [g.groupID, r.callList]).catch(() => [g.groupID, []])));
  setGroupCalls(lists); // the groups panel renders
}

function refreshSoon() {
  clearTimeout(poll.soon);
  poll.soon = setTimeout(() => refreshGroupCalls().catch(() => {}), 300);
}

const onlineOthers = (g) => g.members.filter((m) => m.online && m.userID !== ME).map((m) => m.userID);

async function callGroup(g, button) {
  if (!onlineOthers(g).length) return;
  // everyone else in it: the server invites those online right now and lists the others (user_offline)
  const targets = g.members.map((m) => m.userID).filter((u) => u !== ME).slice(0, LIMITS.maxInvitees);
  button.disabled = true;
  const type = new FormData($("#call-form")).get("type") || "video";
  await placeCall(targets, { type, mode: CallMode.Advanced, timeout: chosenTimeout(), groupID: g.groupID,
    onlineUserOnly: true }, $("#call-error"));
  button.disabled = false;
  refreshSoon();
}

function pickFrom(g) {
  pickFromGroup(g); // the people list renders
  $("#user-list").querySelector("input")?.focus();
}

async function join(info, button) {
  button.disabled = true;
  try {
    if (store.activeID && store.activeID !== info.callID && inCall()) await hangUpActive();
    const result = await zim.callJoin(info.callID);
    stopRinging(info.callID);
    const call = upsertCall(info, { replace: true, fields: { type: callType(info.extendedData) } });
    mergeMembers(call, result.callUserList, true);
    enterCall(call);
  } catch (err) {
    toast(words.couldNotJoin(errorText(err)), "bad");
  } finally {
    button.disabled = false;
    refreshSoon();
  }
}

function groupCallItem(info) {
  const inIt = info.callUserList.filter((m) => m.state === 1).map((m) => m.userID);
  const mine = info.callUserList.find((m) => m.userID === ME);
  const joined = mine?.state === 1 && store.here.has(info.callID);
  return el("li", { class: "group-call", dataset: { callId: info.callID } },
    el("span", {}, words.call(info.caller, callType(info.extendedData), inIt.length),
      el("span", { class: "muted small" }, inIt.length ? ` ${words.inIt(inIt)}` : "")),
    info.mode === CallMode.Advanced && !joined
      ? el("button", { type: "button", class: "btn small success", "aria-label": words.joinLabel(info.caller),
        onclick: (ev) => join(info, ev.target) }, words.join())
      : el("span", { class: "muted small" }, joined ? words.youAreInIt() : ""));
}

export function renderGroups() {
  const connected = zim.state === "connected";
  $("#group-list").replaceChildren(...store.groups.map((g) => {
    const online = onlineOthers(g);
    const calls = store.groupCalls.get(g.groupID) || [];
    return el("li", { class: "group", dataset: { group: g.groupID } },
      el("div", { class: "group-head" },
        el("strong", {}, g.name),
        el("span", { class: "muted small" }, words.online(online.length, g.memberCount - 1))),
      el("div", { class: "group-actions" },
        el("button", { type: "button", class: "btn small primary call-group", disabled: !connected || !online.length,
          "aria-label": words.callGroupLabel(g.name), onclick: (ev) => callGroup(g, ev.target) }, words.callGroup()),
        el("button", { type: "button", class: "btn small pick-group", "aria-label": words.pickMembersLabel(g.name),
          onclick: () => pickFrom(g) }, words.pickMembers())),
      calls.length ? el("ul", { class: "group-calls", "aria-label": words.runningCalls(g.name) }, calls.map(groupCallItem)) : null);
  }));
  $("#group-empty").hidden = store.groups.length > 0;
}

export function initGroups() {
  zim.on("connectionStateChanged", ({ state }) => {
    clearInterval(poll.timer);
    if (state === "connected") {
      refreshGroups();
      poll.timer = setInterval(() => { if (!document.hidden) refreshGroupCalls().catch(() => {}); }, POLL_MS);
    }
    renderGroups();
  });
  for (const name of ["callInvitationCreated", "callUserStateChanged", "callInvitationEnded"]) {
    zim.on(name, (data) => { if (store.calls.get(data.callID)?.groupID) refreshSoon(); });
  }
  on("stage", () => { if (store.groups.length) renderGroups(); });
  on("groups", renderGroups); // the groups, their calls, someone's presence
  renderGroups();
}
