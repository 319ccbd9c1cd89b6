// Invite more people into the call on the stage (advanced mode).
import { LIMITS, activeCall, on, seatsTaken, PENDING, zim } from "./store.js";
import { CallUserState as S } from "../zimclient.js";
import { pickList, sortedUsers } from "./people.js";
import { $, chosenTimeout, el, errorText, reportErrorInvitees, showError } from "./ui.js";
import { W, peopleWords } from "./words.js";

const dialog = () => $("#invite-dialog");
const chosen = new Set();

function renderInviteList() {
  const call = activeCall();
  if (!call) return;
  const inCallAlready = (u) => {
    const m = call.members.get(u.userID);
    return m && (m.state === S.Accepted || PENDING.has(m.state));
  };
  const needle = $("#invite-search").value.trim().toLowerCase();
  const list = sortedUsers().filter((u) => !inCallAlready(u) && (!needle || u.userID.toLowerCase().includes(needle)
    || (u.name || "").toLowerCase().includes(needle)));
  const room = LIMITS.maxParticipants - seatsTaken(call);
  $("#invite-list").replaceChildren(...pickList(list, { chosen, room, name: "invite",
    onPick: (userID, picked) => {
      if (picked) chosen.add(userID); else chosen.delete(userID);
      renderInviteList();
    },
    why: W.inviteFull(LIMITS.maxParticipants) }));
  // how many more fit, in words, beside the people who are greyed out once it is full
  $("#invite-room").textContent = room - chosen.size > 0 ? W.inviteRoom(room - chosen.size) : W.inviteFull(LIMITS.maxParticipants);
  if (!list.length) $("#invite-list").append(el("li", { class: "muted small" }, W.everyoneIn()));
  $("#invite-send").disabled = chosen.size === 0;
  $("#invite-send").textContent = peopleWords.inviteButton([...chosen]);
}

export function initInvite() {
  on("users", () => { if (dialog().open) renderInviteList(); });
  $("#incall-invite").addEventListener("click", () => {
    chosen.clear();
    $("#invite-search").value = "";
    $("#invite-error").hidden = true;
    renderInviteList();
    dialog().showModal();
    $("#invite-search").focus();
  });
  $("#invite-search").addEventListener("input", renderInviteList);
  $("#invite-close").addEventListener("click", () => dialog().close());
  $("#invite-send").addEventListener("click", async () => {
    const call = activeCall();
    if (!call || !chosen.size) return;
    try {
      const result = await zim.callingInvite([...chosen], call.callID, { timeout: chosenTimeout() });
      reportErrorInvitees(result.errorInvitees);
      dialog().close();
    } catch (err) {
      showError($("#invite-error"), errorText(err));
    }
  });
}
