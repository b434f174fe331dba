// sio_client.js — drives the hub's Socket.IO dialect with socket.io-client (npm), the
// real JavaScript client. Prints one JSON object per line for test_socketio_js.py.
// Usage: node sio_client.js URL [TOKEN]
"use strict";
const { io } = require("socket.io-client");

const [url, token] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const socket = io(url, {
  transports: ["websocket"],
  auth: token ? { token } : {},
  reconnection: false,
  timeout: 5000,
});
const seen = new Set();
const done = setTimeout(() => { out({ ev: "timeout" }); process.exit(2); }, 10000);

function maybeFinish() {
  if (!seen.has("on_connection") || !seen.has("ups_status_update")) return;
  socket.timeout(5000).emit("ping", { from: "js" }, (err, res) => {
    out({ ev: "ack", err: err ? String(err) : null, res });
    socket.disconnect();
  });
}

socket.on("connect", () => out({ ev: "connect", id: socket.id }));
socket.on("connect_error", (e) => {
  out({ ev: "connect_error", message: e.message });
  clearTimeout(done);
  socket.close();
});
for (const name of ["on_connection", "ups_status_update"]) {
  socket.on(name, (data) => {
    out({ ev: name, data });
    seen.add(name);
    maybeFinish();
  });
}
socket.on("disconnect", (reason) => {
  out({ ev: "disconnect", reason });
  clearTimeout(done);
});
