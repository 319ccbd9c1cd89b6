// A call this user is in on another tab or device (or on none any more: every window
// closed): offer to rejoin it here (callJoin), leave it (callQuit) or end it (callEnd),
// and leave the stage when another tab or device takes the call away from this one.
import { CallUserState as S, CallState, CallMode } from "../zimclient.js";
import { ME, activeCall, enterCall, mergeMembers, myState, on, store, zim } from "./store.js";
import { leaveStage } from "./stage.js";
import { $, el, errorText, toast } from "./ui.js";

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
  $("#elsewhere-with").textContent = others.join(", ") || "nobody yet";
  $("#elsewhere-join").dataset.callId = call.callID;
}

/** Leave (callQuit) or end (callEnd) the call offered here. */
async function leaveOrEnd(end) {
  const callID = $("#elsewhere-join").dataset.callId;
  try {
    if (end) await zim.callEnd(callID);
    else await zim.callQuit(callID);
    toast(end ? "Call ended for everyone" : "You left the call", "info");
  } catch (err) {
    toast(`Could not ${end ? "end" : "leave"} the call: ${errorText(err)}`, "bad");
  }
}

function addButtons() {
  const join = $("#elsewhere-join");
  join.textContent = "Rejoin here";
  join.after(
    el("button", { type: "button", id: "elsewhere-quit", class: "btn warn", onclick: () => leaveOrEnd(false) }, "Leave"),
    el("button", { type: "button", id: "elsewhere-end", class: "btn danger", onclick: () => leaveOrEnd(true) }, "End for everyone"));
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
    toast(`Could not move the call here: ${errorText(err)}`, "bad");
  }
}

function onStateChanged(data) {
  const mine = data.callUserList.find((m) => m.userID === ME);
  if (!mine || mine.state !== S.Accepted || mine.reason !== "device_moved") return;
  if (zim.takeOwnMove(data.callID)) return; // the echo of this tab's own join (here, or a group's Join)
  if (store.here.has(data.callID)) leaveStage(data.callID, "The call moved to another tab or device");
}

export function initElsewhere() {
  on("stage", renderElsewhere);
  zim.on("callUserStateChanged", onStateChanged);
  $("#elsewhere-join").addEventListener("click", moveHere);
  addButtons();
}
