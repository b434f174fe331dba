// fanout-node-peer.js — a Node `ws` broadcaster that fanout-bench runs beside the hub to
// compare with (a peer, never part of the product).
//
// node fanout-node-peer.js PORT SIZE   listens on 127.0.0.1:PORT (any path), prints
// "listening"; stdin lines "rate R" generate R messages/s (0 stops, then prints
// "sent N", the messages generated since the last start) and broadcast each to every
// open client. A message is about SIZE bytes of JSON whose system_update
// data.uptime_seconds carries the realtime ns at generation (the bench's latency).
// A client with more than 4 MiB unsent is skipped (counted in "sent" as generated).
'use strict';
const readline = require('readline');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const size = Number(process.argv[3] || 600);
const pad = 'x'.repeat(Math.max(0, size - 140));
const origin = performance.timeOrigin;
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
let rate = 0, sent = 0, t0 = 0, timer = null;

function message() {
  const ns = BigInt(Math.round((origin + performance.now()) * 1000)) * 1000n;
  return `{"event":"system_update","data":{"hostname":"bench","uptime_seconds":${ns},` +
    `"cpu_usage_percent":12.5,"ram_total_bytes":17179869184,"pad":"${pad}"}}`;
}

function tick() {
  timer = null;
  if (!rate) return;
  let due = Math.floor((performance.now() - t0) * rate / 1000) - sent;
  const burst = due > 256;
  due = Math.min(due, 256);
  for (let i = 0; i < due; i++) {
    const m = message();
    for (const c of wss.clients)
      if (c.readyState === 1 && c.bufferedAmount < 4 << 20) c.send(m);
    sent++;
  }
  timer = burst ? setImmediate(tick) : setTimeout(tick, 1);
}

wss.on('listening', () => console.log('listening'));
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const r = Number(line.split(' ')[1] || 0);
  if (rate && !r) console.log(`sent ${sent}`);
  if (!rate && r) {
    sent = 0;
    t0 = performance.now();
  }
  rate = r;
  if (rate && !timer) tick();
}).on('close', () => process.exit(0));
