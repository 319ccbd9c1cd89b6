// PROTOCOL's numbers and its error object, as the page's modules and the client use them
// (re-exported by zimclient.js).

export const CallUserState = Object.freeze({
  Unknown: -1, Inviting: 0, Accepted: 1, Rejected: 2, Cancelled: 3,
  Received: 5, Timeout: 6, Quit: 7, NotYetReceived: 9,
});
export const CallState = Object.freeze({ Started: 1, Ended: 2 });
export const CallMode = Object.freeze({ General: 0, Advanced: 1 });

/** A refused command: PROTOCOL's {code, reason, message}. */
export class ZIMError extends Error {
  constructor(error) {
    super(error.message || error.reason);
    this.code = error.code ?? null;
    this.reason = error.reason;
  }
}
