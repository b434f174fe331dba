// app.js — the dashboard's connection, state and actions (the views are in views.js).
//
// One WebSocket per tab to the hub's native dialect (/ws): the welcome says whether the
// hub wants a token; the token (from the login box, kept in sessionStorage) goes as the
// auth message. The snapshot that follows fills the state; the subscriptions then ask for
// whole-state topics at 1 Hz (latest wins, so a wall screen costs the hub one frame per
// topic per second), for per-entity topics (tags, machines) and events (commands, alarms,
// modules, logs) without a rate; tags and machines as they are now come over REST. Controls
// go as {"type":"command"} and their command.result is shown; alarms use REST. Lost
// connection: "disconnected" at once, reconnect with backoff (0.5 s doubling to 10 s).
import { dirty, markAll } from "./views.js";

const HIST = 180; // sparkline points kept in the page (3 min at 1 Hz)

export const S = {
  sys: null, array: null, ups: null, diag: null,
  disks: [], shares: [], pools: [], containers: [], vms: [], gpus: [], nets: [],
  tags: new Map(), machines: new Map(), opcua: new Map(), sources: new Map(),
  collectors: new Map(), alarms: new Map(), events: [], logs: [],
  netHist: new Map(), tagHist: new Map(), cpuHist: [],
  live: false, authRequired: false, role: null, sub: null, control: false,
};

const $ = (id) => document.getElementById(id);
let ws = null, backoff = 500, reqSeq = 1, reconnectTimer = 0, connections = 0;
const pending = new Map(); // request_id → description, for command.result

function token() { return sessionStorage.getItem("ringhub.token") || ""; }

export function canControl() {
  if (S.authRequired) return S.role === "operator" || S.role === "admin";
  return S.control;
}

function setConn(state, text) {
  const c = $("conn");
  c.textContent = text;
  c.className = "conn conn-" + state;
  document.body.classList.toggle("offline", state !== "live");
}

function showLogin(why) {
  $("login").hidden = false;
  $("login-error").textContent = why || "";
  $("token").focus();
}

function connect() {
  clearTimeout(reconnectTimer);
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(proto + "//" + location.host + "/ws");
  connections++;
  ws.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    onMessage(m);
  };
  ws.onclose = () => {
    S.live = false;
    setConn("off", "disconnected — reconnecting");
    const wait = backoff;
    backoff = Math.min(backoff * 2, 10000);
    reconnectTimer = setTimeout(connect, wait);
  };
  ws.onerror = () => {}; // onclose follows and says it
}

function send(o) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(o));
}

function subscribe() {
  // Whole-state topics at 1 Hz: the hub holds back all but the latest of each.
  send({ type: "subscribe", rate: 1, events: [
    "system.status", "array.status", "disk.list", "share.list", "pool.list",
    "container.list", "vm.list", "ups.status", "gpu.list", "network.list", "hub.diag"] });
  // One entity per frame (a tag, a machine, a source): no rate, or the hub's per-topic
  // hold would drop one entity's update for another's. Events as they happen.
  send({ type: "subscribe", events: [
    "tag.update", "machine.status", "source.status", "opcua.connection",
    "module.*", "command.*", "safety.*"] });
  // Alarms, events and logs, one by one: a hub without one answers WS-002 for it alone.
  // alarm.raised confirmed = this hub has alarms: then the list comes over REST.
  send({ type: "subscribe", events: ["alarm.raised"], request_id: "sub-alarms" });
  send({ type: "subscribe", events: ["event.*"], request_id: "sub-events" });
  send({ type: "subscribe", events: ["log.*"], request_id: "sub-logs" });
}

function onWelcome(m) {
  S.authRequired = !!m.auth_required;
  S.control = m.control !== false;
  for (const mc of m.machines || []) S.machines.set(mc.id, { ...S.machines.get(mc.id), ...mc });
  if (!S.authRequired) { goLive(); return; }
  if (token()) send({ type: "auth", token: token(), request_id: "auth" });
  else { setConn("auth", "log in"); showLogin(""); }
}

function goLive() {
  S.live = true;
  backoff = 500;
  $("login").hidden = true;
  setConn("live", "live");
  $("logout").hidden = !S.authRequired;
  $("who").textContent = S.authRequired ? (S.sub || "") + " (" + S.role + ")" : "";
  subscribe();
  loadCollectors();
  loadEntities();
  markAll();
}

function pushHist(map, key, v) {
  let h = map.get(key);
  if (!h) map.set(key, (h = []));
  h.push(v);
  if (h.length > HIST) h.shift();
}

function listEvent(ev, arr, max) {
  arr.unshift(ev);
  if (arr.length > max) arr.length = max;
}

const handlers = {
  "system.status": (d) => {
    S.sys = d;
    // When the first data came, from the navigation's start (the tests and bench read it).
    if (!document.body.dataset.firstData) document.body.dataset.firstData = performance.now().toFixed(0);
    document.body.dataset.sysConn = connections; // which connection brought the latest
    S.cpuHist.push(d.cpu_usage_percent);
    if (S.cpuHist.length > HIST) S.cpuHist.shift();
    if (d.hostname) { $("hostname").textContent = d.hostname; document.title = d.hostname + " · ringhub"; }
    dirty("box");
  },
  "array.status": (d) => { S.array = d; dirty("storage"); },
  "disk.list": (d, m) => {
    // I/O rates from the counters of two lists in a row (the hub sends counters only).
    const now = Date.parse(m.timestamp) || Date.now(), prev = new Map(S.disks.map((x) => [x.id, x]));
    S.disks = d || [];
    for (const x of S.disks) {
      const p = prev.get(x.id), dt = p && (now - p._t) / 1000;
      x._t = now;
      if (dt > 0) { x._rd = (x.read_bytes - p.read_bytes) / dt; x._wr = (x.write_bytes - p.write_bytes) / dt; }
    }
    dirty("storage");
  },
  "share.list": (d) => { S.shares = d || []; dirty("storage"); },
  "pool.list": (d) => { S.pools = d || []; dirty("storage"); },
  "container.list": (d) => { S.containers = d || []; dirty("apps"); },
  "vm.list": (d) => { S.vms = d || []; dirty("apps"); },
  "ups.status": (d) => { S.ups = d; dirty("power"); },
  "gpu.list": (d) => { S.gpus = d || []; dirty("power"); },
  "network.list": (d) => {
    S.nets = d || [];
    for (const n of S.nets) {
      pushHist(S.netHist, n.name + ":rx", n.rx_bytes_per_sec || 0);
      pushHist(S.netHist, n.name + ":tx", n.tx_bytes_per_sec || 0);
    }
    dirty("network");
  },
  "source.status": (d) => { S.sources.set(d.collector + ":" + d.source, d); dirty("hub"); },
  "tag.update": (d) => {
    S.tags.set(d.name, d);
    liveSince.tags.add(d.name);
    if (typeof d.value === "number") pushHist(S.tagHist, d.name, d.value);
    dirty("plant");
  },
  "machine.status": (d) => { S.machines.set(d.id, d); liveSince.machines.add(d.id); dirty("plant"); },
  "opcua.connection": (d) => { S.opcua.set(d.endpoint, d); dirty("plant"); },
  "hub.diag": (d) => { S.diag = d; dirty("hub"); },
  "module.discovered": (d) => moduleEvent(d),
  "module.status_change": (d) => moduleEvent(d),
  "command.executed": (d, m) => commandEvent(d, m),
};

// Every command's end (anyone's: this page, REST, another client) in the events feed.
function commandEvent(d, m) {
  listEvent({ t: m.timestamp, kind: "command", text:
    `${d.action} ${d.target || ""} by ${d.origin || "?"}: ${d.status}${d.message ? " — " + d.message : ""}` },
    S.events, 100);
  dirty("events");
}
handlers["safety.estop"] = (d, m) => {
  listEvent({ t: m.timestamp, kind: "e-stop", text: `emergency stop (${d.reason || "no reason"}): ${d.status}` }, S.events, 100);
  dirty("events");
};

function moduleEvent(d) {
  if (d.module_type === "plc_machine") {
    if (d.machine) S.machines.set(d.module_id, d.machine);
    dirty("plant");
    return;
  }
  const c = S.collectors.get(d.module_id) || { name: d.module_id };
  c.status = d.new_status || d.status;
  c.alive = c.status === "online";
  S.collectors.set(d.module_id, c);
  dirty("hub");
}

function onAlarm(type, d) {
  const a = d && (d.alarm || d);
  if (a && a.id !== undefined) {
    if (type === "alarm.deleted") S.alarms.delete(String(a.id));
    else S.alarms.set(String(a.id), a);
  }
  dirty("alarms");
}

function onMessage(m) {
  const t = m.type;
  if (t === "welcome") return onWelcome(m);
  if (t === "auth_success") {
    S.role = m.data && m.data.role;
    S.sub = m.data && m.data.sub;
    return goLive();
  }
  if (t === "subscription_confirmed" && m.request_id === "sub-alarms") {
    send({ type: "subscribe", events: ["alarm.*"] });
    return loadAlarms();
  }
  if (t === "subscription_confirmed" && m.request_id === "sub-events") return loadJournal("events");
  if (t === "subscription_confirmed" && m.request_id === "sub-logs") return loadJournal("logs");
  if (t === "error" && m.request_id === "sub-alarms") { S.alarmsMissing = true; return dirty("alarms"); }
  if (t === "error") {
    if (m.error_code === "WS-001" && S.authRequired && !S.live) {
      sessionStorage.removeItem("ringhub.token");
      setConn("auth", "log in");
      showLogin("Token refused: " + (m.description || ""));
    }
    return;
  }
  if (t === "command.result") return commandResult(m);
  if (t === "subscription_confirmed" || t === "pong") return;
  const d = m.data;
  if (handlers[t]) return handlers[t](d, m);
  if (t.startsWith("alarm.")) return onAlarm(t, d);
  if (t.startsWith("event.") || t.startsWith("log.")) return journal(t, d || {}, m);
}

// The hub's journal: PyAutomation's Event and Log objects (event.recorded, log.recorded).
function journalEntry(kind, d, when) {
  const who = d.user && (d.user.username || d.user.name);
  const text = (d.message || kind) + (d.description ? " — " + d.description : "") + (who ? " (" + who + ")" : "");
  return { t: when || d.timestamp, kind: d.classification || kind, text };
}
function journal(t, d, m) {
  listEvent(journalEntry(t.split(".")[0], d, m.timestamp), t.startsWith("log.") ? S.logs : S.events, 100);
  dirty("events");
}

// What the journal kept before this page connected (GET /api/v1/history/…, oldest first).
async function loadJournal(which) {
  try {
    const r = await fetch("/api/v1/history/" + which, { headers: authHeaders() });
    if (!r.ok) return;
    const list = (await r.json()).map((d) => journalEntry(which.slice(0, -1), d)).reverse();
    const arr = which === "logs" ? S.logs : S.events;
    arr.splice(0, arr.length, ...list.slice(0, 100));
    dirty("events");
  } catch { /* the WebSocket's close says it */ }
}

function showResult(ok, text) {
  const r = $("result");
  r.hidden = false;
  r.textContent = text;
  r.className = "result " + (ok ? "ok" : "bad");
}

function commandResult(m) {
  const what = pending.get(m.request_id) || "command";
  pending.delete(m.request_id);
  const d = m.data || {};
  showResult(!!m.success, `${what}: ${d.status || (m.success ? "OK" : "FAILED")}${d.message ? " — " + d.message : ""}`);
}

// A control: {"type":"command"} with a request id; the result shows when it comes back.
export function command(target, action, id, args, label) {
  const rid = "c" + reqSeq++;
  pending.set(rid, label || `${action} ${id || target}`);
  const o = { type: "command", target, action, request_id: rid };
  if (id !== undefined && id !== null) o.id = id;
  if (args) o.args = args;
  send(o);
  showResult(true, `${label || action + " " + (id || target)}: sent…`);
}

export function sendRaw(o, label) {
  const rid = "c" + reqSeq++;
  pending.set(rid, label);
  o.request_id = rid;
  send(o);
}

// A confirm step for what moves a machine or stops a plant: resolves true on Confirm.
export function confirmAction(text) {
  const dlg = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const done = (v) => () => { dlg.close(); resolve(v); };
    $("confirm-ok").onclick = done(true);
    $("confirm-cancel").onclick = done(false);
    dlg.oncancel = () => resolve(false);
    dlg.showModal();
    $("confirm-cancel").focus();
  });
}

// Tags and machines as they are now (REST) on connect: the snapshot has no per-entity
// state, and one that does not change comes again only with its collector's next full
// publish (a tag: up to a minute). What the WebSocket brought meanwhile is newer and stays.
const liveSince = { tags: new Set(), machines: new Set() };
async function loadEntities() {
  for (const [kind, key] of [["tags", "name"], ["machines", "id"]]) {
    liveSince[kind].clear();
    try {
      const r = await fetch("/api/v1/" + kind, { headers: authHeaders() });
      if (!r.ok) continue;
      const list = await r.json();
      for (const e of Array.isArray(list) ? list : [])
        if (e && e[key] !== undefined && !liveSince[kind].has(e[key]))
          S[kind].set(e[key], { ...S[kind].get(e[key]), ...e });
      dirty("plant");
    } catch { /* the WebSocket's close says it */ }
  }
}

// Collectors with their last heartbeat (REST; every 10 s while the tab is visible).
async function loadCollectors() {
  try {
    const r = await fetch("/api/v1/collectors/status", { headers: authHeaders() });
    if (!r.ok) return;
    for (const c of await r.json())
      S.collectors.set(c.name, { name: c.name, status: c.alive ? "online" : c.state, alive: c.alive, last_heartbeat: c.last_heartbeat });
    dirty("hub");
  } catch { /* the WebSocket's close says it */ }
}

function authHeaders() {
  return token() ? { Authorization: "Bearer " + token() } : {};
}

// Alarms over REST: the list on connect (a hub without alarms answers 404: none shown).
async function loadAlarms() {
  try {
    const r = await fetch("/api/v1/alarms", { headers: authHeaders() });
    if (!r.ok) return showResult(false, `alarms: GET /api/v1/alarms answered ${r.status}`);
    const list = await r.json();
    S.alarms.clear();
    for (const a of Array.isArray(list) ? list : list.alarms || []) S.alarms.set(String(a.id), a);
    S.alarmsMissing = false;
    dirty("alarms");
  } catch { /* the WebSocket's close says it */ }
}

export async function alarmAction(id, action) {
  try {
    const r = await fetch(`/api/v1/alarms/${encodeURIComponent(id)}/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json", ...authHeaders() },
      body: "{}",
    });
    let body = {};
    try { body = await r.json(); } catch { /* empty */ }
    showResult(r.ok, `${action} alarm ${id}: ${r.ok ? "OK" : r.status + " " + (body.error || "")}`);
    if (r.ok) {
      const a = body.alarm || (body.id !== undefined ? body : null);
      if (a) S.alarms.set(String(a.id), a);
      dirty("alarms");
    }
  } catch (e) {
    showResult(false, `${action} alarm ${id}: ${e.message}`);
  }
}

function init() {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("ringhub.token", $("token").value.trim());
    $("token").value = "";
    if (ws && ws.readyState === WebSocket.OPEN) send({ type: "auth", token: token(), request_id: "auth" });
    else connect();
  });
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem("ringhub.token");
    S.role = null;
    if (ws) ws.close();
  });
  setConn("off", "connecting…");
  connect();
  setInterval(() => { if (S.live && !document.hidden) loadCollectors(); }, 10000);
}

init();
