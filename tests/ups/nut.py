"""nut.py — a real NUT upsd with the dummy-ups driver as a test peer.

Nut(d, port): dummy-ups reads a static .dev file (re-read when its mtime changes; write()
bumps it), upsd listens on a loopback port; everything under the private directory d,
every process stopped by PID. OL, OB, LB: .dev texts of a UPS online, on battery, low.
Used by the UPS collector's tests and the dashboard's alarm test.
"""
import os
import signal
import subprocess
import time

from ringlib import skip, wait_for

NUT = "/lib/nut"
UPS = "rack"

OL = """device.model: Back-UPS RS 1500G
ups.model: Back-UPS RS 1500G
ups.status: OL
battery.charge: 100
battery.runtime: 3600
ups.load: 25
input.voltage: 230.5
output.voltage: 230.0
ups.realpower.nominal: 900
battery.voltage: 27.1
"""
OB = OL.replace("ups.status: OL", "ups.status: OB DISCHRG").replace(
    "battery.charge: 100", "battery.charge: 80").replace("battery.runtime: 3600",
                                                         "battery.runtime: 1200")
LB = OL.replace("ups.status: OL", "ups.status: OB LB DISCHRG").replace(
    "battery.charge: 100", "battery.charge: 9").replace("battery.runtime: 3600",
                                                        "battery.runtime: 120") + \
    "ups.realpower: 240\n"


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
        wait_for(lambda: os.path.exists(sock), 15, what="dummy-ups socket")

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


def require_nut():
    """Skip (77) unless NUT's upsd and dummy-ups can run here (as root)."""
    if not os.path.exists(NUT + "/upsd") or not os.path.exists(NUT + "/dummy-ups"):
        skip("NUT (nut-server) not installed")
    if os.geteuid() != 0:
        skip("upsd and dummy-ups are started as root here (-u root)")
