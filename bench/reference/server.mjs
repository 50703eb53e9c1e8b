// The reference sync server of the benchmark: what the automerge-repo documentation sets up
// (a Repo, its WebSocket server adapter, its Node filesystem storage), listening where sansang
// does (/api/v1/sync), so the same simulator drives both. It has no authentication and keeps
// every document it touches in memory; the token in the query string is ignored.
//
// Usage: node server.mjs <port> <storage folder> [keep-alive ms]; prints "listening <port>" once
// it serves. The keep-alive is the adapter's own setting (5000 ms unless given): a socket whose
// pong has not come back by the next ping is terminated, and under a burst a busy event loop
// reads pongs late, so the benchmark also runs a row with a longer one.
import { WebSocketServer } from "ws";
import { Repo } from "@automerge/automerge-repo";
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";

const port = Number(process.argv[2] || 0);
const dir = process.argv[3] || "./reference-data";
const keepAliveMs = process.argv[4] ? Number(process.argv[4]) : undefined;
const wss = new WebSocketServer({ port, path: "/api/v1/sync" });
new Repo({
  network: [new NodeWSServerAdapter(wss, keepAliveMs)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `reference-server-${process.pid}`,
  // Shares every document with every peer, as the documentation's sync server does.
  sharePolicy: async () => true,
});
wss.on("listening", () => console.log(`listening ${wss.address().port}`));
process.on("SIGTERM", () => process.exit(0));
