#!/usr/bin/python3
"""make_smbios.py — a small SMBIOS structure table (the bytes of
/sys/firmware/dmi/tables/DMI) for the tests: BIOS, baseboard, one processor, two caches,
the memory array and two memory slots (one empty), laid out as the DMTF SMBIOS reference
specification says. Written from scratch; the values describe an imaginary AM4 box.

usage: make_smbios.py OUT_FILE   (or import and call table())
"""
import struct
import sys


def structure(stype, handle, body, strings):
    """A structure: header, formatted part (body: the bytes after the header), strings."""
    head = struct.pack("<BBH", stype, 4 + len(body), handle)
    tail = b"".join(s.encode() + b"\0" for s in strings) + b"\0"
    if not strings:
        tail = b"\0\0"
    return head + body + tail


def table():
    out = b""
    # type 0: vendor, version, segment 0xF000, date, ROM 16 MB, characteristics, 5.17
    out += structure(0, 0x0000, struct.pack("<BBHBBQHBBBB", 1, 2, 0xF000, 3, 0xFF, 0x08, 0,
                                            5, 17, 0xFF, 0xFF),
                     ["American Megatrends International, LLC.", "2.40", "05/06/2023"])
    # type 2: baseboard, a motherboard (0x0A)
    out += structure(2, 0x0002, struct.pack("<BBBBBBBHBB", 1, 2, 3, 4, 5, 0x09, 6, 0x0003,
                                            0x0A, 0),
                     ["ASRock", "B550M Steel Legend", "Rev 1.0", "M80-12345678",
                      "Default string", "Chassis slot 1"])
    # type 4: processor, family Zen (0x6B), signature 0x00A20F10, 1.2 V
    out += structure(4, 0x0004, struct.pack(
        "<BBBBIIBBHHHBBHHHBBBBBBHHHHH", 1, 3, 0x6B, 2, 0x00A20F10, 0x178BFBFF, 3, 0x8C, 100,
        4850, 3800, 0x41, 0x31, 0x0007, 0x0008, 0x0009, 4, 5, 6, 8, 8, 16, 0x00FC, 0x6B,
        8, 8, 16),
        ["AM4", "Advanced Micro Devices, Inc.", "AMD Ryzen 7 5800X 8-Core Processor",
         "Unknown", "Unknown", "Unknown"])
    # type 7: L1 512 kB write back, multi-bit ECC, unified, 8-way
    out += structure(7, 0x0007, struct.pack("<BHHHHHBBBBII", 1, 0x0180, 0x0200, 0x0200, 2, 2,
                                            1, 6, 5, 7, 512, 512), ["L1 - Cache"])
    # type 7: L3 32 MB (64 kB granularity), 16-way
    out += structure(7, 0x0009, struct.pack("<BHHHHHBBBBII", 1, 0x0182, 0x8200, 0x8200, 2, 2,
                                            1, 6, 5, 8, 0x80000200, 0x80000200),
                     ["L3 - Cache"])
    # type 16: on the board, system memory, no ECC, 128 GB, 4 slots
    out += structure(16, 0x0010, struct.pack("<BBBIHHQ", 3, 3, 3, 128 * 1024 * 1024, 0xFFFE,
                                              4, 0), [])
    # type 17: 16 GB DDR4 DIMM, 3200 MT/s, 2 ranks, 1.2/1.2/1.35 V
    out += structure(17, 0x0011, struct.pack("<HHHHHBBBBBHHBBBBBIHHHH", 0x0010, 0xFFFE, 64,
                                             64, 0x4000, 0x09, 0, 1, 2, 0x1A, 0x4080, 3200, 3,
                                             4, 5, 6, 0x02, 0, 3200, 1200, 1200, 1350),
                     ["DIMM 0", "P0 CHANNEL A", "Kingston", "12345678", "Not Specified",
                      "KF3200C16D4/16GX"])
    # type 17: an empty slot
    out += structure(17, 0x0012, struct.pack("<HHHHHBBBBBHHBBBBBIHHHH", 0x0010, 0xFFFE,
                                             0xFFFF, 0xFFFF, 0, 0x09, 0, 1, 2, 0x02, 0x0000, 0,
                                             3, 3, 3, 3, 0, 0, 0, 0, 0, 0),
                     ["DIMM 1", "P0 CHANNEL B", "Unknown"])
    out += structure(127, 0x0013, b"", [])
    return out


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        f.write(table())
