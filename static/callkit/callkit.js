// The call kit, for an app's page (docs/embedding.md):
//
//   import { CallKit } from "https://calls.example/static/callkit/callkit.js";
//   const kit = await CallKit.init({ token, userID, userName, config, events });
//   await kit.sendCallInvitation({ invitees: [{ userID: "bob" }], callType: CallKit.InvitationTypeVideoCall });
//
// This file is the kit's stable address; the kit itself is the site's page's code
// (static/js/kit/kit.js and the views it wires).
import { installWords } from "../js/kit/language.js";

installWords(); // before the kit's sentences load

export const { CallKit, CallKitError } = await import("../js/kit/kit.js");
