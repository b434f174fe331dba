"""browser.py — headless Debian chromium for the dashboard tests, through driver.js.

Browser(env) starts `node driver.js` (playwright-core, executablePath /usr/bin/chromium)
and speaks its one-JSON-per-line protocol; every call raises Fail with the driver's error.
Skips (77) without chromium, node or playwright-core (scripts/packages.d/web.test.list,
tests/web/package.json). Also the shared set-up of the web tests: the artifacts folder in
the build tree and the page-weight sum.
"""
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hub"))
from hubtest import Fail, skip  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def require_browser():
    if not os.path.exists(CHROMIUM):
        skip(f"{CHROMIUM} missing (apt install chromium: scripts/packages.d/web.test.list)")
    if not shutil.which("node"):
        skip("node missing")
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        skip("playwright-core missing (npm ci in tests/web, scripts/test does it)")


def artifacts():
    """The folder for screenshots and figures: <build>/web-artifacts."""
    d = os.environ.get("WEB_ARTIFACTS") or os.path.join(
        os.path.dirname(os.environ["RINGHUB"]), "..", "web-artifacts")
    os.makedirs(d, exist_ok=True)
    return os.path.abspath(d)


class Browser:
    def __init__(self, env=None):
        require_browser()
        name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        self.log = open(os.path.join(artifacts(), f"driver-{name}.log"), "w")
        self.p = subprocess.Popen(["node", os.path.join(HERE, "driver.js")], cwd=HERE,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.log, text=True, bufsize=1)
        self.n = 0
        if env is not None:
            env.procs.append(self.p)

    def call(self, op, **kw):
        kw["op"] = op
        self.p.stdin.write(json.dumps(kw) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise Fail(f"browser driver died during {op} (see {self.log.name})")
        r = json.loads(line)
        if not r.get("ok"):
            raise Fail(f"browser {op} {kw.get('js') or kw.get('selector') or kw.get('url') or ''}: "
                       f"{r.get('error', '')[:600]}")
        return r

    def open(self, url, width=1280, height=800, name=None, **kw):
        self.n += 1
        page = name or f"p{self.n}"
        r = self.call("open", page=page, url=url, width=width, height=height, **kw)
        return page, r

    def wait(self, page, js, timeout=5000):
        return self.call("wait", page=page, js=js, timeout=timeout)["value"]

    def eval(self, page, js):
        return self.call("eval", page=page, js=js)["value"]

    def text(self, page, selector):
        return self.eval(page, f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent")

    def problems(self, page):
        return self.call("problems", page=page)["value"]

    def quit(self):
        if self.p.poll() is None:
            try:
                self.call("quit")
            except Fail:
                pass
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def page_weight(port):
    """Compressed bytes of the page: / and every /ui/ asset it names, as a browser
    that accepts gzip gets them (raw where the hub sends no gzip copy)."""
    def fetch(path):
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=5) as r:
            body = r.read()
            enc = r.headers.get("Content-Encoding")
        return body, (gzip.decompress(body) if enc == "gzip" else body)
    total, seen, todo = 0, set(), ["/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        wire, text = fetch(path)
        total += len(wire)
        for ref in re.findall(rb'(?:/ui/|\./)([\w.-]+\.(?:js|css|svg))', text):
            todo.append("/ui/" + ref.decode())
    return total, sorted(seen)
