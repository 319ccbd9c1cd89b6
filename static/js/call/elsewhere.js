// A call this user is in on another tab or device (or on none any more: every window
// closed): offer to rejoin it here (callJoin), leave it (callQuit) or end it (callEnd),
// and leave the stage when another tab or device takes the call away from this one.
import { CallUserState as S, CallState, CallMode } from "../zimclient.js";
import { ME, activeCall, enterCall, mergeMembers, myState, on, store, zim } from "./store.js";
import { leaveStage } from "./stage.js";
import { $, el, errorText, toast } from "./ui.js";
import { elsewhereWords as words, inCallWords, selfLeftText } from "./words.js";

function callElsewhere() {
  if (activeCall()) return null;
  return [...store.calls.values()].find((call) => !store.here.has(call.callID) && call.mode === CallMode.Advanced
    && call.state === CallState.Started && myState(call) === S.Accepted) || null;
}

function renderElsewhere() {
  const call = callElsewhere();
  $("#elsewhere").hidden = !call;
  if (!call) return;
  const others = [...call.members.values()].filter((m) => m.userID !== ME && m.state === S.Accepted).map((m) => m.userID);
  $("#elsewhere-with").textContent = words.with(others);
  $("#elsewhere-join").dataset.callId = call.callID;
}

/** Leave (callQuit) or end (callEnd) the call offered here. */
async function leaveOrEnd(end) {
  const callID = $("#elsewhere-join").dataset.callId;
  try {
    if (end) await zim.callEnd(callID);
    else await zim.callQuit(callID);
    toast(end ? inCallWords.endedForEveryone() : selfLeftText(), "info");
  } catch (err) {
    toast(end ? words.couldNotEnd(errorText(err)) : words.couldNotLeave(errorText(err)), "bad");
  }
}

function addButtons() {
  const join = $("#elsewhere-join");
  join.textContent = words.rejoinHere();
  join.after(
    el("button", { type: "button", id: "elsewhere-quit", class: "btn warn", onclick: () => leaveOrEnd(false) }, words.leave()),
    el("button", { type: "button", id: "elsewhere-end", class: "btn danger", onclick: () => leaveOrEnd(true) }, words.endForEveryone()));
}

async function moveHere() {
  const callID = $("#elsewhere-join").dataset.callId;
  const call = store.calls.get(callID);
  if (!call) return;
  try {
    const result = await zim.callJoin(callID);
    if (result.callUserList) mergeMembers(call, result.callUserList, true);
    enterCall(call);
  } catch (err) {
    toast(words.couldNotMoveHere(errorText(err)), "bad");
  }
}

function onStateChanged(data) {
  const mine = data.callUserList.find((m) => m.userID === ME);
  if (!mine || mine.state !== S.Accepted || mine.reason !== "device_moved") return;
  if (zim.takeOwnMove(data.callID)) return; // the echo of this tab's own join (here, or a group's Join)
  if (store.here.has(data.callID)) leaveStage(data.callID, words.movedAway());
}

export function initElsewhere() {
  on("stage", renderElsewhere);
  zim.on("callUserStateChanged", onStateChanged);
  $("#elsewhere-join").addEventListener("click", moveHere);
  addButtons();
}
