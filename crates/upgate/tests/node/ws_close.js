// Opens a WebSocket with node's `ws` package (tests/websocket_pragmas.rs),
// answers pings as `ws` does by itself, and prints one JSON line when the
// socket closes: {"code": N, "reason": "...", "open_ms": N, "pings": N}.
// Exits 1 when it does not close within --timeout seconds.
//
//   node ws_close.js URL TIMEOUT_SECONDS
// NODE_PATH must name the node_modules that holds `ws`.

const WebSocket = require("ws");

const [url, timeout] = process.argv.slice(2);
const started = Date.now();
let opened = null;
let pings = 0;
const ws = new WebSocket(url);
ws.on("open", () => {
  opened = Date.now();
});
ws.on("ping", () => {
  pings += 1;
});
ws.on("error", (e) => {
  console.error(`error: ${e.message}`);
});
ws.on("close", (code, reason) => {
  const open_ms = opened === null ? -1 : Date.now() - opened;
  console.log(JSON.stringify({ code, reason: reason.toString(), open_ms, pings }));
  process.exit(0);
});
setTimeout(() => {
  console.log(JSON.stringify({ code: null, open_ms: Date.now() - started, pings }));
  process.exit(1);
}, Number(timeout) * 1000);
