# plclib.py — shared helpers of the PLC collector tests: peers, the ring, the collector.
#
# Test support only. Starts the pymodbus peer (modbus_server.py) and an in-process
# carousel simulator (raw TCP byte protocol, PROTOCOLS.md §carousel PLC) on free loopback
# ports, runs ringhub-collect-plc from $BUILD on a private ring, follows the ring with
# `ringhubctl dump --from N --json`, and stops every process it started by PID. Waits use
# generous deadlines and conditions, never counts of events in a time window. A missing
# binary or peer exits 77 with the reason.
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
# skip (77 with a reason), fail, binary (from $BUILD), free_port: shared with tests/opcua
sys.path.insert(0, os.path.join(HERE, "..", "opcua"))
from harness import binary, fail, free_port, skip  # noqa: E402,F401


def need_pymodbus():
    r = subprocess.run([PY, "-c", "import pymodbus.server, pymodbus.datastore"], capture_output=True)
    if r.returncode != 0:
        skip("pymodbus is not installed for /usr/bin/python3 (apt-get install python3-pymodbus)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, what, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    fail(f"no {what} within {timeout} s")


# ---- values as a PLC lays them out ----

FMT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "int64": ">q",
       "uint64": ">Q", "float32": ">f", "float64": ">d"}


def regs_for(value, typ, order="ABCD"):
    """Registers holding value of typ in byte order, computed independently of the C code."""
    b = struct.pack(FMT[typ], value)
    words = [b[i:i + 2] for i in range(0, len(b), 2)]
    if order in ("CDAB", "DCBA"):
        words = words[::-1]
    if order in ("BADC", "DCBA"):
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def width(typ):
    return len(struct.pack(FMT[typ], 0)) // 2 if typ in FMT else 1


def bench_map(ports, per_device=100, scan_ms=100):
    """The benches' map: per device per_device holding-register tags, 60 % uint16, 20 %
    int32 CDAB, 20 % float32 (two merged reads per device and scan)."""
    lines = ["[defaults]", f"scan_time = {scan_ms}", "timeout = 1000", ""]
    for d, port in enumerate(ports):
        lines += [f"[device.d{d}]", "host = 127.0.0.1", f"port = {port}", ""]
        addr = 0
        for k in range(per_device):
            typ = "uint16" if k < per_device * 3 // 5 else "int32" if k < per_device * 4 // 5 else "float32"
            lines += [f"[tag.d{d}_t{k}]", f"device = d{d}", "register = holding", f"address = {addr}",
                      f"type = {typ}", "byte_order = CDAB" if typ == "int32" else "", ""]
            addr += 1 if typ == "uint16" else 2
    return "\n".join(lines)


# ---- peers ----

class ModbusServer:
    """pymodbus TCP server in its own process, driven through its stdin."""

    def __init__(self, port=None):
        need_pymodbus()
        self.port = port or free_port()
        self.proc = None

    def start(self, timeout=30):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([PY, os.path.join(HERE, "modbus_server.py"), str(self.port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if line.strip() == "READY":
                return self
            if not line:
                break
        self.err.seek(0)
        fail(f"pymodbus server did not start: {self.err.read()[-2000:]!r}")

    def cmd(self, **c):
        self.proc.stdin.write(json.dumps(c) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        if "error" in out:
            fail(f"modbus server: {out['error']}")
        return out

    def set(self, area, addr, values):
        return self.cmd(op="set", area=area, addr=addr, values=list(values))

    def get(self, area, addr, count=1):
        return self.cmd(op="get", area=area, addr=addr, count=count)["values"]

    def reads(self):
        return [tuple(r) for r in self.cmd(op="reads")["reads"]]

    def clear(self):
        self.cmd(op="clear")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None


class TcpPeer:
    """A loopback TCP listener serving each connection on a thread with _serve(conn)."""

    def __init__(self, port=None):
        self.connections = 0
        self.stopping = False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port or 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve_closing, args=(conn,), daemon=True).start()

    def _serve_closing(self, conn):
        try:
            self._serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stopping = True
        self.sock.close()


class RawServer(TcpPeer):
    """Accepts TCP; 'mute' reads and never answers, 'junk' answers every read with garbage."""

    def __init__(self, mode):
        self.mode = mode
        super().__init__()

    def _serve(self, conn):
        while True:
            data = conn.recv(512)
            if not data:
                return
            if self.mode == "junk":
                conn.sendall(b"\x13\x37\x00\x00\x00\x03\xff\xfe\xfd garbage")


class Carousel(TcpPeer):
    """The carousel PLC: command byte (+ argument), 2-byte reply [status][position].

    Status bits: b0 READY, b1 RUN, b2 remote, b3 alarm, b4 e-stop OK (active-low), b5 VFD,
    b6 positioning error, b7 direction. MOVE takes move_time seconds; command 2 is the
    e-stop (the collector's default estop_command). mode: good, silent (never answers),
    garbage (3-byte replies), short (1 byte, then silence), oneshot (closes after each reply).
    """

    def __init__(self, mode="good", move_time=1.0, port=None):
        self.mode = mode
        self.move_time = move_time
        self.lock = threading.Lock()
        self.ready, self.remote, self.alarm, self.estop_ok = True, True, False, True
        self.position, self.target, self.move_end = 0, None, 0.0
        self.commands = []  # (command, argument) as received
        super().__init__(port)

    def _moving(self):
        if self.target is not None and time.monotonic() >= self.move_end:
            self.position, self.target = self.target, None
        return self.target is not None

    def raw(self):
        with self.lock:
            return self._raw()

    def _raw(self):
        moving = self._moving()
        return (self.ready * 1 | moving * 2 | self.remote * 4 | self.alarm * 8 |
                self.estop_ok * 16 | (self.target is not None and self.target < self.position) * 128)

    def start_move(self, target):
        with self.lock:
            self._moving()
            self.target, self.move_end = target, time.monotonic() + self.move_time

    def press_estop(self):
        with self.lock:
            self.estop_ok, self.target = False, None

    def release_estop(self):
        with self.lock:
            self.estop_ok = True

    def _execute(self, cmd, arg):
        with self.lock:
            self.commands.append((cmd, arg))
            if cmd == 1 and not self._moving() and self.estop_ok:
                self.target, self.move_end = arg, time.monotonic() + self.move_time
            elif cmd == 2:
                self._moving()
                self.estop_ok, self.target = False, None
            return bytes([self._raw(), self.position & 0xFF])

    def _recv(self, conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _serve(self, conn):
        while not self.stopping:
            c = self._recv(conn, 1)
            if c is None:
                return
            arg = 0
            if c[0] != 0:
                a = self._recv(conn, 1)
                if a is None:
                    return
                arg = a[0]
            if self.mode == "silent":
                continue
            reply = self._execute(c[0], arg)
            if self.mode == "garbage":
                conn.sendall(reply + b"\xff")
            elif self.mode == "short":
                conn.sendall(reply[:1])
                time.sleep(30)
                return
            else:
                conn.sendall(reply)
            if self.mode == "oneshot":
                return


# ---- the ring and the collector ----

class Ring:
    """Follows a private ring in a thread; keeps every record and the newest per key."""

    KEYS = {"tag": "name", "machine": "id", "source_status": "source"}

    def __init__(self, area):
        self.ctl = binary("shm/ringhubctl")
        self.name = f"test-plc-{area}-{os.getpid()}"
        subprocess.run([self.ctl, "--ring", self.name, "create"], check=True, stdout=subprocess.DEVNULL)
        self.records = []
        self.latest = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.next = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        while not self.stopping:
            p = subprocess.run([self.ctl, "--ring", self.name, "dump", "--from", str(self.next), "--json"],
                               capture_output=True, text=True)
            got = []
            for line in p.stdout.splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("seq", -1) >= self.next:
                    self.next = rec["seq"] + 1
                    got.append(rec)
            if got:
                with self.cond:
                    for rec in got:
                        self.records.append(rec)
                        k = self.KEYS.get(rec.get("type"))
                        if k:
                            self.latest[(rec["type"], rec["data"].get(k))] = rec["data"]
                    self.cond.notify_all()
            time.sleep(0.05)

    def get(self, rtype, key):
        with self.lock:
            return self.latest.get((rtype, key))

    def mark(self):
        with self.lock:
            return len(self.records)

    def since(self, mark, rtype=None):
        with self.lock:
            return [r["data"] for r in self.records[mark:] if rtype is None or r["type"] == rtype]

    def wait(self, pred, timeout, what, rtype=None, since=0):
        """The first record's data (from index `since`) for which pred(data) holds."""
        end = time.monotonic() + timeout
        i = since
        with self.cond:
            while True:
                while i < len(self.records):
                    r = self.records[i]
                    i += 1
                    if (rtype is None or r["type"] == rtype) and pred(r["data"]):
                        return r["data"]
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
        fail(f"no {what} within {timeout} s")

    def wait_latest(self, rtype, key, pred, timeout, what):
        return wait_until(lambda: (lambda d: d if d is not None and pred(d) else None)(self.get(rtype, key)),
                          timeout, what)

    def close(self):
        self.stopping = True
        self.thread.join(10)
        subprocess.run([self.ctl, "--ring", self.name, "rm"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


class Collector:
    """ringhub-collect-plc on a ring, stderr in a file."""

    def __init__(self, ring, args, tmp):
        self.exe = binary("collectors/plc/ringhub-collect-plc")
        self.log_path = os.path.join(tmp, f"collector.{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.exe, "--ring", ring.name] + list(args), stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def lines(self, needle):
        return [ln for ln in self.output().splitlines() if needle in ln]

    def alive(self):
        return self.proc.poll() is None

    def stop(self, check=True):
        """SIGTERM; with check, fail unless it exits 0 within 15 s without sanitizer reports."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    fail("collector did not stop within 15 s of SIGTERM")
        self.log.close()
        out = self.output()
        if check and (self.proc.returncode != 0 or "ERROR: AddressSanitizer" in out or
                      "runtime error" in out or "LeakSanitizer" in out):
            fail(f"collector exit {self.proc.returncode}: {out[-3000:]}")
        return self.proc.returncode


def send(ring, action, target="", args=None, producer="plc", timeout_ms=8000):
    """`ringhubctl --json send`: (status, data dict or None, message)."""
    ctl = binary("shm/ringhubctl")
    cmd = [ctl, "--ring", ring.name, "--json", "send", "--timeout", str(timeout_ms), producer, action, target]
    if args is not None:
        cmd.append(json.dumps(args))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_ms / 1000 + 20)
    lines = [ln for ln in p.stdout.splitlines() if ln.strip().startswith("{")]
    if not lines:
        fail(f"ringhubctl send {action} {target}: no JSON answer (exit {p.returncode}): {p.stderr}")
    o = json.loads(lines[-1])
    res = o.get("data", o) if isinstance(o.get("data"), dict) and "status" in o["data"] else o
    data = res.get("data")
    if isinstance(data, str):
        data = json.loads(data) if data.strip() else None
    return res.get("status"), data, res.get("message", "")


def have_send():
    ctl = binary("shm/ringhubctl")
    p = subprocess.run([ctl, "--help"], capture_output=True, text=True)
    return "send" in (p.stdout + p.stderr)


def finish(coll):
    """The end of a test: the collector still alive, then stopped cleanly; PASS."""
    if not coll.alive():
        fail(f"collector died: {coll.output()[-2000:]}")
    coll.stop()
    print("PASS")


def cleanup(*things):
    """Stop whatever a test started: collectors (unchecked), peers, servers, the ring."""
    for t in things:
        if t is None:
            continue
        if isinstance(t, Collector):
            if t.proc.poll() is None or not t.log.closed:
                t.stop(check=False)
        elif isinstance(t, ModbusServer):
            t.kill()
        else:
            t.close()
