// carousel_js_driver.js — runs the seed's JavaScript CarouselWebSocketClient
// (fixtures/carousel_client.js, verbatim) against the hub, for test_hub_carousel_js.py.
// The client is the seed's class; this driver only gives it a WebSocket (npm ws), records
// every message it handles as a line "@@{json}" (the seed's own console.log lines pass
// through), and calls its methods: sendCommand, getStatus, disconnect.
// Usage: node carousel_js_driver.js URL MACHINE ARGUMENT
"use strict";
global.WebSocket = require("ws");
const { CarouselWebSocketClient } = require("./fixtures/carousel_client.js");

const [url, machine, argument] = process.argv.slice(2);
const t0 = Date.now();
const out = (o) => process.stdout.write("@@" + JSON.stringify(o) + "\n");
const seen = {};
let broadcasts = 0;

class Recorder extends CarouselWebSocketClient {
  handleMessage(data) {
    out({ t: Date.now() - t0, data });
    super.handleMessage(data);
    seen[data.type] = (seen[data.type] || 0) + 1;
    if (data.type === "welcome") {
      this.sendCommand(machine, 1, Number(argument));
      this.getStatus(machine);
    }
    if (data.type === "status_broadcast") broadcasts++;
    if (seen.command_result && seen.machine_status && broadcasts >= 2) {
      out({ done: true });
      this.maxReconnectAttempts = 0; // the seed reconnects on close: not after we are done
      this.disconnect();
      setTimeout(() => process.exit(0), 100);
    }
  }
}

setTimeout(() => { out({ timeout: true, seen }); process.exit(2); }, 30000);
new Recorder(url).connect();
