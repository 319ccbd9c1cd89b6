// What the media session sends and receives, from RTCPeerConnection.getStats(): per other
// member the bytes, packets and decoded frames received (through the mesh and through the
// media server, camera and screen apart), and each stream this page sends. The browser
// tests and bench/media_topology.py read it through Session.report().

const newRow = () => ({
  conn: "connecting", via: "", audioIn: 0, videoIn: 0, audioOut: 0, videoOut: 0,
  audioPackets: 0, audioPacketsBy: { mesh: 0, sfu: 0 }, framesDecoded: 0, screenFramesDecoded: 0, frameWidth: 0, screenWidth: 0,
});

function addInbound(row, report, screenTrackIds, via) {
  row[`${report.kind}In`] += report.bytesReceived || 0;
  if (report.kind === "audio") {
    row.audioPackets += report.packetsReceived || 0;
    row.audioPacketsBy[via] += report.packetsReceived || 0;
  }
  if (report.kind !== "video") return;
  if (screenTrackIds.has(report.trackIdentifier)) {
    row.screenFramesDecoded += report.framesDecoded || 0;
    row.screenWidth = Math.max(row.screenWidth, report.frameWidth || 0);
  } else {
    row.framesDecoded += report.framesDecoded || 0;
    row.frameWidth = Math.max(row.frameWidth, report.frameWidth || 0);
  }
}

/** {remotes: {userID: row}, outbound: {id: {kind, via, bytesSent, framesEncoded, frameWidth, limitation}}, at}. */
export async function mediaReport(session) {
  const remotes = {};
  const outbound = {};
  const rowOf = (userID) => (remotes[userID] ??= newRow());
  const addOutbound = (via, report, row) => {
    // the encoder's own account of what holds it back ("cpu", "bandwidth" or "none")
    outbound[`${via}/${report.id}`] = { kind: report.kind, via, bytesSent: report.bytesSent || 0,
      framesEncoded: report.framesEncoded || 0, frameWidth: report.frameWidth || 0,
      limitation: report.qualityLimitationReason || "" };
    if (row) row[`${report.kind}Out`] += report.bytesSent || 0;
  };
  for (const [userID, peer] of session.peers) {
    const row = rowOf(userID);
    Object.assign(row, { conn: peer.conn, via: "mesh" });
    const screenIds = new Set(peer.screen.getTracks().map((t) => t.id));
    for (const report of (await peer.pc?.getStats())?.values() || []) {
      if (report.type === "inbound-rtp") addInbound(row, report, screenIds, "mesh");
      if (report.type === "outbound-rtp") addOutbound(`mesh:${userID}`, report, row);
    }
  }
  const client = session.link?.client;
  if (client) {
    for (const report of (await client.publisherPc?.getStats())?.values() || []) {
      if (report.type === "outbound-rtp") addOutbound("sfu", report, null);
    }
    for (const report of (await client.subscriberPc?.getStats())?.values() || []) {
      const userID = report.type === "inbound-rtp" ? client.userOfMid(report.mid) : null;
      const member = userID && client.members.get(userID);
      if (!member) continue;
      const row = rowOf(userID);
      if (row.via !== "mesh" || session.link.receivingFrom(userID)) Object.assign(row, { conn: member.conn, via: "sfu" });
      addInbound(row, report, new Set(member.screen.getTracks().map((t) => t.id)), "sfu");
    }
  }
  return { remotes, outbound, at: performance.now() };
}
