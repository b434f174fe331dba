// views.js — the dashboard's views, drawn from the state in app.js. A view is redrawn
// only when marked dirty, at most once per animation frame; text goes in as text (never
// as HTML), styles only through the CSSOM (the page's CSP allows no inline style).
import { S, canControl, command, confirmAction, alarmAction } from "./app.js";

const VIEWS = ["box", "storage", "apps", "power", "network", "plant", "alarms", "events", "hub"];
const marked = new Set();
let scheduled = false;

export function dirty(v) {
  marked.add(v);
  if (!scheduled) { scheduled = true; requestAnimationFrame(render); }
}
export function markAll() { for (const v of VIEWS) dirty(v); }

export function render() {
  scheduled = false;
  for (const v of marked) {
    const body = document.querySelector("#" + v + " .body");
    if (!body) continue;
    // Focus stays on the control it was on (found again by its label) across the redraw.
    const f = document.activeElement;
    const label = f && body.contains(f) && f.getAttribute("aria-label");
    body.replaceChildren(...DRAW[v]());
    if (label) body.querySelector(`[aria-label="${CSS.escape(label)}"]`)?.focus();
  }
  marked.clear();
}

// ---- helpers ----
function h(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
}
const num = (v, d = 1) => (typeof v === "number" && isFinite(v) ? v.toFixed(d) : "–");
const pct = (v) => num(v) + " %";
const temp = (v) => (typeof v === "number" ? num(v, 0) + " °C" : "–");
function bytes(v) {
  if (typeof v !== "number") return "–";
  const u = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return v.toFixed(i ? 1 : 0) + " " + u[i];
}
const rate = (v) => bytes(v) + "/s";
function dur(s) {
  if (typeof s !== "number") return "–";
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return (d ? d + " d " : "") + hh + " h " + m + " min";
}
function card(title, ...kids) { return h("div", { class: "card" }, h("h3", { text: title }), ...kids); }
function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v, attrs]) => [h("dt", { text: k }), h("dd", { text: String(v), ...(attrs || {}) })]));
}
function bar(v, label) {
  const fill = h("span", { class: "fill" });
  fill.style.width = Math.max(0, Math.min(100, v || 0)) + "%";
  if (v >= 90) fill.classList.add("hot");
  return h("span", { class: "bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-valuenow": typeof v === "number" ? v.toFixed(0) : null, "aria-label": label }, fill);
}
function table(head, rows, cls) {
  return h("div", { class: "scroll" }, h("table", { class: cls || "" },
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, rows)));
}
const SVG = "http://www.w3.org/2000/svg";
function spark(values, label) {
  const w = 120, hgt = 24, svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const vs = values || [];
  if (vs.length > 1) {
    const max = Math.max(...vs), min = Math.min(0, ...vs), span = max - min || 1;
    const pts = vs.map((v, i) => `${(i * w / (vs.length - 1)).toFixed(1)},${(hgt - 1 - (v - min) / span * (hgt - 2)).toFixed(1)}`);
    const pl = document.createElementNS(SVG, "polyline");
    pl.setAttribute("points", pts.join(" "));
    svg.append(pl);
  }
  return svg;
}
function btn(text, label, onclick, cls) {
  return h("button", { type: "button", class: cls || "", "aria-label": label, onclick }, text);
}
function empty(text) { return h("p", { class: "muted", text }); }
const state = (s, testid) => h("span", { class: "state st-" + String(s || "").replace(/\W+/g, "-").toLowerCase(), text: s || "–", "data-testid": testid });

// ---- views ----
function box() {
  const s = S.sys;
  if (!s) return [empty("No system data yet (is ringhub-collect-system running?)")];
  // The agent's map {"cpu0": 12.5, …}, in core order.
  const perCore = s.cpu_per_core_usage || {};
  const cores = Object.keys(perCore).sort((a, b) => parseInt(a.slice(3), 10) - parseInt(b.slice(3), 10)).map((k) => {
    const v = perCore[k];
    return h("li", {}, h("span", { class: "core", text: k }), bar(v, "CPU " + k.slice(3)), h("span", { text: pct(v) }));
  });
  return [
    card("CPU",
      h("p", { class: "big" }, h("span", { "data-testid": "cpu", text: num(s.cpu_usage_percent) }), " %"),
      spark(S.cpuHist, "CPU history"),
      kv([["model", s.cpu_model || "–"], ["cores / threads", `${s.cpu_cores ?? "–"} / ${s.cpu_threads ?? "–"}`],
        ["clock", num(s.cpu_mhz, 0) + " MHz"], ["load 1/5/15", `${num(s.load_average_1m, 2)} ${num(s.load_average_5m, 2)} ${num(s.load_average_15m, 2)}`]]),
      h("ul", { class: "cores" }, cores)),
    card("Memory",
      bar(s.ram_usage_percent, "memory used"),
      kv([["used", `${bytes(s.ram_used_bytes)} of ${bytes(s.ram_total_bytes)} (${pct(s.ram_usage_percent)})`],
        ["cached", bytes(s.ram_cached_bytes)], ["available", bytes(s.ram_available_bytes)],
        ["swap", `${bytes(s.swap_used_bytes)} of ${bytes(s.swap_total_bytes)} (${pct(s.swap_usage_percent)})`]])),
    card("Sensors",
      kv([["CPU", temp(s.cpu_temp_celsius)], ["board", temp(s.motherboard_temp_celsius)],
        ...(s.temperatures || []).map((t) => [t.name, temp(t.value_celsius)]),
        ...(s.fans || []).map((f) => ["fan " + f.name, (f.rpm ?? "–") + " rpm"])])),
    card("System",
      kv([["host", s.hostname], ["uptime", dur(s.uptime_seconds)], ["model", s.server_model || "–"],
        ["BIOS", `${s.bios_version || "–"} ${s.bios_date || ""}`], ["OS", s.version || "–"], ["ringhub", s.agent_version || "–"]])),
  ];
}

function smartCell(d) {
  const bad = Object.values(d.smart_attributes || {}).filter((a) => a.when_failed || (a.threshold && a.value <= a.threshold));
  const ok = d.smart_status === "PASSED" && !bad.length;
  return h("td", { class: ok ? "" : "warn" }, d.smart_status || "–",
    bad.map((a) => h("div", { class: "failing", text: `${a.name} ${a.value}/${a.threshold}${a.when_failed ? " (" + a.when_failed + ")" : ""}` })));
}

function storage() {
  const out = [];
  const a = S.array;
  if (a && a.state && a.state !== "NONE") {
    out.push(card("Array " + (a.name || ""),
      kv([["state", a.state], ["kind / level", `${a.kind || "–"} ${a.level || ""}`],
        ["disks", `${a.num_data_disks ?? "–"} data, ${a.num_parity_disks ?? "–"} parity, ${a.num_invalid_disks ?? 0} invalid`],
        ["parity", a.parity_valid ? "valid" : "not valid"],
        ["check", `${a.parity_check_status || "idle"}${a.parity_check_running ? " " + pct(a.parity_check_progress) : ""}`],
        ["sync errors", a.sync_errors ?? 0], ["size", bytes(a.size_bytes)]]),
      a.parity_check_running ? bar(a.parity_check_progress, "parity check progress") : null));
  }
  if (S.pools.length)
    out.push(card("Pools", table(["pool", "kind", "state", "devices", "sync / scrub", "errors"],
      S.pools.map((p) => h("tr", { class: p.degraded ? "warn" : "" }, h("td", { text: p.name }), h("td", { text: `${p.kind} ${p.level || ""}` }),
        h("td", {}, state(p.state)), h("td", { text: `${p.num_devices}${p.missing_devices ? " (" + p.missing_devices + " missing)" : ""}` }),
        h("td", { text: `${p.sync_action || ""} ${p.sync_action && p.sync_action !== "idle" ? pct(p.sync_progress) : ""} ${p.scrub_status || ""}` }),
        h("td", { text: String((p.read_errors || 0) + (p.write_errors || 0) + (p.corruption_errors || 0)) }))))));
  out.push(card("Disks", S.disks.length ? table(["disk", "role", "spin", "temp", "SMART", "usage", "I/O"],
    S.disks.map((d) => h("tr", {}, h("td", { text: `${d.name || d.id} (${d.device || ""})` }), h("td", { text: d.role || "–" }),
      h("td", {}, state(d.spin_state)), h("td", { text: d.spin_state === "standby" ? "(asleep)" : temp(d.temperature_celsius) }),
      smartCell(d), h("td", {}, d.size_bytes ? [bar(d.usage_percent, "usage " + d.id), " ", pct(d.usage_percent)] : "–"),
      h("td", { text: `${pct(d.io_utilization_percent)}${d._rd >= 0 ? ` · r ${rate(d._rd)} w ${rate(d._wr)}` : ""}` })))) : empty("No disks reported.")));
  if (S.shares.length)
    out.push(card("Shares", table(["share", "path", "used", "free"],
      S.shares.map((s) => h("tr", {}, h("td", { text: s.name }), h("td", { text: s.path }),
        h("td", {}, bar(s.usage_percent, "share " + s.name), " ", pct(s.usage_percent)), h("td", { text: bytes(s.free_bytes) }))))));
  return out;
}

function ctl(target, id, action, label, opts = {}) {
  if (!canControl()) return null;
  return btn(action, `${action} ${label}`, async () => {
    if (opts.confirm && !(await confirmAction(`${action} ${label}?`))) return;
    command(target, action, id, opts.confirm ? { confirm: true } : null, `${action} ${label}`);
  }, opts.confirm ? "danger" : "");
}

function apps() {
  const c = S.containers.map((x) => h("tr", { "data-testid": "container-" + x.name },
    h("td", { text: x.name }), h("td", { text: x.image }), h("td", {}, state(x.state, "state-" + x.name)),
    h("td", { text: pct(x.cpu_percent) }), h("td", { text: bytes(x.memory_usage_bytes) }),
    h("td", { text: `${rate(x.network_rx_bytes_per_sec)} / ${rate(x.network_tx_bytes_per_sec)}` }),
    h("td", { class: "actions" },
      x.state === "running" ? [ctl("docker", x.name, "stop", "container " + x.name), ctl("docker", x.name, "restart", "container " + x.name), ctl("docker", x.name, "pause", "container " + x.name)]
        : x.state === "paused" ? [ctl("docker", x.name, "unpause", "container " + x.name), ctl("docker", x.name, "stop", "container " + x.name)]
          : [ctl("docker", x.name, "start", "container " + x.name)])));
  const v = S.vms.map((x) => h("tr", {},
    h("td", { text: x.name }), h("td", {}, state(x.state)), h("td", { text: x.vcpus ?? "–" }),
    h("td", { text: pct(x.cpu_percent) }), h("td", { text: `${bytes(x.memory_used_bytes)} / ${bytes(x.memory_allocated_bytes)}` }),
    h("td", { class: "actions" },
      x.state === "running" ? [ctl("vm", x.name, "stop", "VM " + x.name), ctl("vm", x.name, "restart", "VM " + x.name), ctl("vm", x.name, "pause", "VM " + x.name), ctl("vm", x.name, "force-stop", "VM " + x.name, { confirm: true })]
        : x.state === "paused" ? [ctl("vm", x.name, "resume", "VM " + x.name), ctl("vm", x.name, "force-stop", "VM " + x.name, { confirm: true })]
          : [ctl("vm", x.name, "start", "VM " + x.name)])));
  return [
    card("Containers", c.length ? table(["name", "image", "state", "CPU", "memory", "net rx / tx", ""], c) : empty("No containers.")),
    card("Virtual machines", v.length ? table(["name", "state", "vCPUs", "CPU", "memory", ""], v) : empty("No VMs.")),
  ];
}

function power() {
  const u = S.ups, out = [];
  out.push(card("UPS", u && u.connected ? kv([["status", u.status || "–"], ["model", u.model || "–"],
    ["charge", pct(u.battery_charge_percent)], ["runtime", dur(u.battery_runtime_seconds)],
    ["load", pct(u.load_percent)], ["input / output", `${num(u.input_voltage)} V / ${num(u.output_voltage)} V`],
    ["power", num(u.power_watts, 0) + " W"]]) : empty("No UPS connected.")));
  const g = S.gpus.filter((x) => x.available !== false);
  out.push(card("GPU", g.length ? g.map((x) => kv([["GPU", `${x.name} (${x.vendor || ""} ${x.driver_version || ""})`],
    ["busy", pct(x.utilization_gpu_percent)], ["memory", `${bytes(x.memory_used_bytes)} of ${bytes(x.memory_total_bytes)}`],
    ["temperature", temp(x.temperature_celsius)], ["power", num(x.power_draw_watts, 0) + " W"], ["fan", pct(x.fan_speed_percent)]])) : empty("No GPU.")));
  return out;
}

function network() {
  if (!S.nets.length) return [empty("No interfaces reported.")];
  return [card("Interfaces", table(["interface", "state", "address", "rx", "tx", "errors"],
    S.nets.map((n) => h("tr", {}, h("td", { text: n.name }), h("td", {}, state(n.state)),
      h("td", { text: n.ip_address || n.mac_address || "–" }),
      h("td", {}, spark(S.netHist.get(n.name + ":rx"), n.name + " receive rate"), " ", rate(n.rx_bytes_per_sec)),
      h("td", {}, spark(S.netHist.get(n.name + ":tx"), n.name + " send rate"), " ", rate(n.tx_bytes_per_sec)),
      h("td", { text: String((n.errors_received || 0) + (n.errors_sent || 0)) }))), "net"))];
}

const BITS = ["ready", "running", "remote_mode", "alarm", "emergency_stop", "vfd_error", "position_error"];
// The target position typed for each machine: its card is redrawn on every machine frame
// (a collector's cycle), which must not undo what the operator typed.
const targets = new Map();
function machineCard(m) {
  const bits = h("ul", { class: "bits" }, BITS.filter((b) => m[b] !== undefined).map((b) =>
    h("li", { class: m[b] ? (["alarm", "emergency_stop", "vfd_error", "position_error"].includes(b) ? "on bad" : "on") : "off", text: b.replace(/_/g, " ") })));
  const posIn = h("input", { type: "number", min: "0", max: "255", value: targets.get(m.id) ?? "1", "aria-label": "target position for " + (m.name || m.id), class: "pos",
    oninput: (e) => targets.set(m.id, e.target.value) });
  const controls = canControl() ? h("div", { class: "actions" }, posIn,
    btn("move", "move " + (m.name || m.id), async () => {
      const p = Number(posIn.value);
      if (await confirmAction(`Move ${m.name || m.id} to position ${p}?`)) command("machines", "move", m.id, { argument: p }, `move ${m.id} to ${p}`);
    }),
    btn("E-STOP", "emergency stop " + (m.name || m.id), async () => {
      if (await confirmAction(`Emergency stop ${m.name || m.id}?`)) command("machines", "estop", m.id, null, `emergency stop ${m.id}`);
    }, "danger")) : null;
  return card(m.name || m.id, kv([["connection", m.connection_status || "–"], ["position", m.position ?? "–", { "data-testid": "position-" + m.id }],
    ["direction", m.direction ?? "–"], ["last command", `${m.last_command ?? "–"} ${m.last_result ?? ""}`], ["error", m.error || "–"]]), bits, controls);
}

function tagValue(t) {
  if (typeof t.value === "number") return +t.value.toFixed(3);
  if (typeof t.value_bool === "boolean") return t.value_bool;
  return t.value_string || "–";
}

function plant() {
  const out = [];
  out.push(card("Tags", S.tags.size ? table(["tag", "value", "trend", "quality", "description"],
    [...S.tags.values()].map((t) => h("tr", { class: t.quality && t.quality !== "Good" ? "warn" : "" }, h("td", { text: t.name }),
      h("td", { text: `${tagValue(t)} ${t.unit || ""}` }),
      h("td", {}, spark(S.tagHist.get(t.name), t.name + " trend")), h("td", { text: t.quality || "–" }),
      h("td", { text: t.description || "" })))) : empty("No tags.")));
  if (S.opcua.size) out.push(card("OPC UA", kv([...S.opcua.values()].map((c) => [c.endpoint, c.state + (c.reason ? " — " + c.reason : "")]))));
  if (S.machines.size) out.push(h("div", { class: "grid" }, [...S.machines.values()].map(machineCard)));
  else out.push(empty("No machines."));
  return out;
}

const ALARM_ORDER = ["Unacknowledged", "RTN Unacknowledged", "Acknowledged", "Shelved", "Suppressed By Design", "Out Of Service", "Normal"];
const alarmState = (a) => (a.state && typeof a.state === "object" ? a.state.state : a.state) || "Normal";
function alarms() {
  if (S.alarmsMissing) return [empty("This hub has no alarm engine.")];
  const list = [...S.alarms.values()].sort((x, y) => ALARM_ORDER.indexOf(alarmState(x)) - ALARM_ORDER.indexOf(alarmState(y)));
  if (!list.length) return [empty("No alarms.")];
  return [table(["alarm", "state", "tag", "trigger", "description", ""], list.map((a) => {
    const st = alarmState(a), unack = st === "Unacknowledged" || st === "RTN Unacknowledged";
    return h("tr", { class: unack ? "alarm-unack" : "", "data-testid": "alarm-" + a.id },
      h("td", { text: a.name || a.id }), h("td", {}, state(st, "alarm-state-" + a.id)), h("td", { text: a.tag || "" }),
      h("td", { text: `${a.trigger_type || ""} ${a.alarm_setpoint ? a.alarm_setpoint.value ?? a.alarm_setpoint.setpoint ?? "" : ""}` }),
      h("td", { text: a.description || "" }),
      h("td", { class: "actions" }, canControl() ? [
        unack ? btn("acknowledge", "acknowledge alarm " + (a.name || a.id), () => alarmAction(a.id, "acknowledge")) : null,
        st !== "Shelved" && st !== "Normal" ? btn("shelve", "shelve alarm " + (a.name || a.id), () => alarmAction(a.id, "shelve")) : null] : null));
  }))];
}

function feed(title, list) {
  return card(title, list.length ? h("ol", { class: "feed" }, list.slice(0, 50).map((e) =>
    h("li", {}, h("time", { text: (String(e.t || "").match(/\d\d:\d\d:\d\d/) || [""])[0] }), " ", h("b", { text: e.kind }), " ", e.text))) : empty("Nothing yet."));
}
function events() { return [feed("Events", S.events), feed("Logs", S.logs)]; }

function hub() {
  const d = S.diag || {}, out = [];
  out.push(card("Hub", kv(Object.entries(d).filter(([k, v]) => typeof v !== "object" && k !== "timestamp").map(([k, v]) => [k.replace(/_/g, " "), typeof v === "number" ? +v.toFixed(2) : v]))));
  out.push(card("Collectors", S.collectors.size ? table(["collector", "status", "last heartbeat"],
    [...S.collectors.values()].map((c) => h("tr", { class: c.alive ? "" : "warn" }, h("td", { text: c.name }), h("td", {}, state(c.status)),
      h("td", { text: c.last_heartbeat ? c.last_heartbeat.slice(11, 19) : "–" })))) : empty("No collectors.")));
  if (S.sources.size) out.push(card("Sources", kv([...S.sources.values()].map((s) => [`${s.collector} ${s.source}`, `${s.status}${s.message ? " — " + s.message : ""}`]))));
  return out;
}

const DRAW = { box, storage, apps, power, network, plant, alarms, events, hub };
