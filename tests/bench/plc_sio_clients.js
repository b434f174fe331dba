// plc_sio_clients.js — N Socket.IO v4 clients (Engine.IO over the npm ws package, no
// socket.io-client: the bench must measure the hub, not the client library) counting
// on.tag events and their age (receive time − the tag's own timestamp, PyAutomation's
// "%m/%d/%Y, %H:%M:%S.%f" local time). For plc-hub-bench.sh.
// Usage: node plc_sio_clients.js URL N SECONDS   → one JSON line at the end (counts and a
// sample of the ages, for plc-hub-bench.sh to merge across processes).
"use strict";
const WebSocket = require("ws");
const [base, nStr, secStr] = process.argv.slice(2);
const N = Number(nStr), SECONDS = Number(secStr);
const ages = [];
const seenKinds = {};
let events = 0, connected = 0, errors = 0, closed = 0, measuring = false;
const closeReasons = {};

function tagAgeMs(s, now) {
  const i = s.indexOf('"timestamp":"');
  if (i < 0) return null;
  const t = s.substr(i + 13, 26); // MM/DD/YYYY, HH:MM:SS.ffffff
  const d = new Date(+t.substr(6, 4), +t.substr(0, 2) - 1, +t.substr(3, 2), +t.substr(12, 2),
                     +t.substr(15, 2), +t.substr(18, 2), +t.substr(21, 3));
  return now - d.getTime() - (+t.substr(24, 3)) / 1000;
}

for (let k = 0; k < N; k++) {
  const ws = new WebSocket(base.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket");
  ws.on("message", (buf) => {
    const s = buf.toString();
    if (s[0] === "0") ws.send("40");
    else if (s === "2") ws.send("3");
    else if (s.startsWith("40")) connected++;
    else if (process.env.BENCH_DEBUG && k === 0 && s[0] === "4") {
      const m = s.substr(0, 24);
      seenKinds[m] = (seenKinds[m] || 0) + 1;
    }
    if (s.startsWith('42["on.tag"')) {
      if (!measuring) return;
      events++;
      if (events % 7 === 0 || ages.length < 1000) ages.push(tagAgeMs(s, Date.now()));
    }
  });
  ws.on("error", () => errors++);
  ws.on("close", (code, reason) => {
    closed++;
    const r = `${code} ${reason}`;
    closeReasons[r] = (closeReasons[r] || 0) + 1;
  });
}
const pct = (a, p) => a.length ? a[Math.min(a.length - 1, Math.floor(p / 100 * a.length))] : null;
setTimeout(() => {
  measuring = true;
  const t0 = Date.now();
  setTimeout(() => {
    const secs = (Date.now() - t0) / 1000;
    const a = ages.filter((x) => x !== null).sort((x, y) => x - y);
    process.stdout.write(JSON.stringify({ clients: connected, errors, closed, close_reasons: closeReasons, events, seconds: secs,
      events_per_s: Math.round(events / secs), age_p50_ms: pct(a, 50), age_p99_ms: pct(a, 99),
      samples: a.length,
      ages: a.filter((_, i) => i % Math.max(1, Math.ceil(a.length / 20000)) === 0),
      kinds: process.env.BENCH_DEBUG ? seenKinds : undefined }) + "\n", () => process.exit(0));
  }, SECONDS * 1000);
}, 3000);
