// sio_events.js — a socket.io-client (npm) that waits for the hub's own events:
// safety_estop and config_updated. Prints one JSON object per line for
// test_socketio_events.py: {"ev":"connect"} once joined, then each event with its data.
// Usage: node sio_events.js URL
"use strict";
const { io } = require("socket.io-client");

const [url] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const socket = io(url, { transports: ["websocket"], reconnection: false, timeout: 5000 });
const want = new Set(["safety_estop", "config_updated"]);
const done = setTimeout(() => { out({ ev: "timeout" }); process.exit(2); }, 20000);

socket.on("connect", () => out({ ev: "connect", id: socket.id }));
socket.on("connect_error", (e) => {
  out({ ev: "connect_error", message: e.message });
  process.exit(1);
});
for (const name of want) {
  socket.on(name, (data) => {
    out({ ev: name, data });
    want.delete(name);
    if (want.size === 0) {
      clearTimeout(done);
      socket.disconnect();
    }
  });
}
