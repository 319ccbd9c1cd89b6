// This browser's push device id: call/settings.js makes it when push is turned on,
// signout.js sends it with the sign-out form so the server forgets that subscription.

/** localStorage key of this browser's push device id. */
export const PUSH_DEVICE_KEY = "push.deviceID";
