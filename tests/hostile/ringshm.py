"""ringshm.py — a hostile neighbour's view of a live ring: the segment mapped read-write
(as any process in the ring's group may), its header fields and slot control words read
and scribbled by offset (shm/ring.h fixes every offset with static_assert)."""
import mmap
import os
import struct

# struct ring_header offsets (shm/ring.h)
OFF_CAPACITY = 24
OFF_SLOTS = 40
OFF_HEAD = 64
SLOT_SIZE = 512
STATE_COMMITTED = 2


class Shm:
    def __init__(self, ring):
        self.fd = os.open(f"/dev/shm/{ring}", os.O_RDWR)
        self.m = mmap.mmap(self.fd, os.fstat(self.fd).st_size)

    def close(self):
        self.m.close()
        os.close(self.fd)

    def u32(self, off, value=None):
        if value is not None:
            struct.pack_into("<I", self.m, off, value)
        return struct.unpack_from("<I", self.m, off)[0]

    def u64(self, off, value=None):
        if value is not None:
            struct.pack_into("<Q", self.m, off, value & (2**64 - 1))
        return struct.unpack_from("<Q", self.m, off)[0]

    def head(self, value=None):
        return self.u64(OFF_HEAD, value)

    def capacity(self, value=None):
        return self.u32(OFF_CAPACITY, value)

    def ctl_off(self, seq):
        cap = self.capacity()
        return self.u64(OFF_SLOTS) + (seq % cap) * SLOT_SIZE

    def ctl(self, seq, value=None):
        return self.u64(self.ctl_off(seq), value)


# struct ring_producer (shm/ring.h): the registry at 4096, 256 bytes an entry
OFF_PRODUCERS = 4096
PRODUCER_SIZE = 256
P_NAME, P_NAME_MAX, P_INTERVAL = 8, 32, 92


def find_producer(shm, name):
    for i in range(64):
        off = OFF_PRODUCERS + i * PRODUCER_SIZE
        if bytes(shm.m[off + P_NAME:off + P_NAME + P_NAME_MAX]).rstrip(b"\0") == name:
            return off
    return None


def scribble_producer(shm, off, name, interval_ms=1000):
    """A neighbour renames a registry entry (raw bytes) and gives it an interval, so the
    hub reports it as a collector."""
    shm.m[off + P_NAME:off + P_NAME + P_NAME_MAX] = name.ljust(P_NAME_MAX, b"\0")
    shm.u32(off + P_INTERVAL, interval_ms)
