// The microphone and camera of the media session: getting them (getUserMedia, with
// fallbacks), the list of devices, and what a failure means for the user.

import { mediaWords as words } from "../words.js";

export const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 } };

/** What a failed getUserMedia means for the user. */
export function deviceNote(error, { wantedVideo, gotAudio, gotVideo }) {
  if (gotAudio && (gotVideo || !wantedVideo)) return "";
  if (gotAudio) return words.noCamera();
  if (gotVideo) return words.noMicrophone();
  if (error?.name === "NotAllowedError" || error?.name === "SecurityError") return words.notAllowed();
  if (error?.name === "NotFoundError" || error?.name === "OverconstrainedError" || !navigator.mediaDevices) return words.notFound();
  return words.notStarted(error?.name || "error");
}

/** This side's stream for a call (`video`: a video call): {stream (or null), error}. */
export async function openLocalStream(video) {
  const tries = video ? [{ audio: true, video: VIDEO }, { audio: true }, { video: VIDEO }] : [{ audio: true }];
  let error = null;
  let stream = null;
  for (const constraints of navigator.mediaDevices?.getUserMedia ? tries : []) {
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraints);
      break;
    } catch (err) {
      error = err;
      if (err.name === "NotAllowedError" || err.name === "SecurityError") break; // asking again would not help
    }
  }
  return { stream, error };
}

/** The microphones and cameras this page may use. */
export async function listInputs() {
  try {
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      audioinput: all.filter((d) => d.kind === "audioinput" && d.deviceId),
      videoinput: all.filter((d) => d.kind === "videoinput" && d.deviceId),
    };
  } catch {
    return { audioinput: [], videoinput: [] };
  }
}

/** A track from one given microphone or camera. */
export async function openDevice(kind, deviceId) {
  const constraints = kind === "audio" ? { audio: { deviceId: { exact: deviceId } } }
    : { video: { ...VIDEO, deviceId: { exact: deviceId } } };
  return (await navigator.mediaDevices.getUserMedia(constraints)).getTracks()[0];
}
