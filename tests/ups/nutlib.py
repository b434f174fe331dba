"""nutlib.py — a NUT upsd with the dummy-ups driver under a temporary directory (tests).

Used by nut_test.py and the hub's alarm test. `Nut(d, port)` writes the configuration
(one UPS named UPS, pollinterval 1), `write(text)` replaces the driver's .dev file with a
fresh mtime, `start_driver()`/`start_upsd()` start them as root in their own sessions,
`cleanup()` stops both by PID.
"""
import os
import signal
import subprocess
import time

NUT = "/lib/nut"
UPS = "rack"


def _wait_for(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


class Nut:
    def __init__(self, d, port):
        self.d, self.port = d, port
        self.etc, self.state = os.path.join(d, "etc"), os.path.join(d, "state")
        os.makedirs(self.etc)
        os.makedirs(self.state, mode=0o700)
        self.dev = os.path.join(self.etc, UPS + ".dev")
        w = lambda n, t: open(os.path.join(self.etc, n), "w").write(t)  # noqa: E731
        w("nut.conf", "MODE=standalone\n")
        w("ups.conf", "user = root\npollinterval = 1\n\n[%s]\n\tdriver = dummy-ups\n"
          "\tport = %s\n\tmode = dummy-once\n\tdesc = \"test UPS\"\n" % (UPS, self.dev))
        w("upsd.conf", "LISTEN 127.0.0.1 %d\nSTATEPATH %s\n" % (port, self.state))
        w("upsd.users", "")
        for n in ("ups.conf", "upsd.conf", "upsd.users"):
            os.chmod(os.path.join(self.etc, n), 0o600)
        self.env = dict(os.environ, NUT_CONFPATH=self.etc, NUT_STATEPATH=self.state,
                        NUT_ALTPIDPATH=self.state)
        self.driver = self.upsd = None
        self.log = open(os.path.join(d, "nut.log"), "a")

    def write(self, text):
        # A new mtime each time, even within one second of the last write.
        with open(self.dev + ".new", "w") as f:
            f.write(text)
        os.replace(self.dev + ".new", self.dev)
        t = time.time() + getattr(self, "bump", 0)
        self.bump = getattr(self, "bump", 0) + 2
        os.utime(self.dev, (t, t))

    def start_driver(self):
        sock = os.path.join(self.state, "dummy-ups-" + UPS)
        if os.path.exists(sock):
            os.unlink(sock)
        self.driver = subprocess.Popen([NUT + "/dummy-ups", "-a", UPS, "-u", "root", "-F"],
                                       env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        _wait_for(lambda: os.path.exists(sock), 15, "dummy-ups socket")

    def start_upsd(self):
        self.upsd = subprocess.Popen([NUT + "/upsd", "-u", "root", "-F"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @staticmethod
    def _stop(p):
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_driver(self):
        self._stop(self.driver)
        self.driver = None

    def stop_upsd(self):
        self._stop(self.upsd)
        self.upsd = None

    def cleanup(self):
        self.stop_upsd()
        self.stop_driver()
        self.log.close()
