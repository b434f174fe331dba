// driver.js — Debian's chromium, headless, driven by playwright-core for the dashboard
// tests (browser.py). Never a downloaded browser: the executable is /usr/bin/chromium (or
// $CHROMIUM). One JSON request per stdin line, one JSON reply per stdout line:
//   {"op":"open","page":"p1","url":…,"width":1920,"height":1080}  → {"ok":true}
//   {"op":"wait","page":"p1","js":"expr","timeout":5000}            → {"ok":true,"value":…}
//   {"op":"eval"|"click"|"fill"|"screenshot"|"problems"|"close"|"quit", …}
// Every page records console errors, page errors, failed requests and HTTP answers ≥ 400
// ("problems"), so a test can require none (the CSP's refusals show as console errors).
"use strict";
const readline = require("readline");
const { chromium } = require("playwright-core");

let browser = null;
const pages = new Map();

async function launch() {
  if (browser) return;
  const args = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-extensions", "--disable-background-networking"];
  if (process.getuid && process.getuid() === 0) args.push("--no-sandbox");
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true, args });
}

async function open(r) {
  await launch();
  const ctx = await browser.newContext({ viewport: { width: r.width || 1280, height: r.height || 800 },
    colorScheme: r.scheme || "light" });
  const page = await ctx.newPage();
  const p = { ctx, page, problems: [] };
  page.on("console", (m) => { if (m.type() === "error") p.problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => p.problems.push("page error: " + e.message));
  page.on("requestfailed", (q) => p.problems.push(`request failed: ${q.url()} ${q.failure() ? q.failure().errorText : ""}`));
  page.on("response", (s) => { if (s.status() >= 400) p.problems.push(`HTTP ${s.status()}: ${s.url()}`); });
  pages.set(r.page, p);
  const t0 = Date.now();
  await page.goto(r.url, { waitUntil: "load", timeout: r.timeout || 15000 });
  return { loaded_ms: Date.now() - t0 };
}

async function handle(r) {
  const p = pages.get(r.page);
  switch (r.op) {
    case "open": return open(r);
    case "wait": { // polled from here: waitForFunction would eval in the page, which the CSP refuses
      const t0 = Date.now(), limit = r.timeout || 5000;
      let v;
      for (;;) {
        v = await p.page.evaluate(r.js);
        if (v) return { value: v, waited_ms: Date.now() - t0 };
        if (Date.now() - t0 > limit) throw new Error(`not true within ${limit} ms (last: ${JSON.stringify(v)})`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    case "eval": return { value: await p.page.evaluate(r.js) };
    case "click": await p.page.click(r.selector, { timeout: r.timeout || 5000 }); return {};
    case "fill": await p.page.fill(r.selector, r.value, { timeout: r.timeout || 5000 }); return {};
    case "press": await p.page.press(r.selector, r.key, { timeout: r.timeout || 5000 }); return {};
    case "reload": await p.page.reload({ waitUntil: "load" }); return {};
    case "viewport": await p.page.setViewportSize({ width: r.width, height: r.height }); return {};
    case "screenshot": await p.page.screenshot({ path: r.path, fullPage: !!r.full }); return {};
    case "problems": return { value: p.problems };
    case "close": await p.ctx.close(); pages.delete(r.page); return {};
    case "quit": if (browser) await browser.close(); browser = null; return {};
    default: throw new Error("unknown op " + r.op);
  }
}

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on("line", (line) => {
  chain = chain.then(async () => {
    let r;
    try {
      r = JSON.parse(line);
      const out = await handle(r);
      process.stdout.write(JSON.stringify({ ok: true, ...out }) + "\n");
    } catch (e) {
      process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message || e) }) + "\n");
    }
    if (r && r.op === "quit") process.exit(0);
  });
});
rl.on("close", () => { chain.then(async () => { if (browser) await browser.close(); process.exit(0); }); });
