// sio_poll.js — socket.io-client (npm) as an unchanged application uses it: io(url) with
// default options (long-polling first, then the upgrade to WebSocket, its own reconnect),
// or forced to long-polling only. Prints one JSON object per line as things happen, for
// test_socketio_poll.py and the polling benchmark; runs until killed.
// Usage: node sio_poll.js URL default|polling [TOKEN]
"use strict";
const { io } = require("socket.io-client");

const [url, mode, token] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const opts = token ? { auth: { token } } : {};
if (mode === "polling") opts.transports = ["polling"];
const socket = io(url, opts);
const engine = () => socket.io.engine;
const quiet = process.env.SIO_QUIET === "1"; // the benchmark: count events, print a tally

socket.io.on("open", () => {
  out({ ev: "open", transport: engine().transport.name });
  engine().on("upgrade", (t) => out({ ev: "upgrade", transport: t.name }));
});
socket.on("connect", () => out({ ev: "connect", id: socket.id, transport: engine().transport.name }));
socket.on("connect_error", (e) => out({ ev: "connect_error", message: e.message }));
socket.on("disconnect", (reason) => out({ ev: "disconnect", reason }));
socket.on("on_connection", (data) => out({ ev: "on_connection", keys: Object.keys(data).sort() }));
let n = 0;
socket.on("ups_status_update", (data) => {
  n++;
  if (!quiet)
    out({ ev: "ups", charge: data.battery_charge_percent, transport: engine().transport.name });
});
if (quiet) setInterval(() => out({ ev: "tally", n }), 1000);
process.on("SIGTERM", () => { socket.close(); process.exit(0); });
