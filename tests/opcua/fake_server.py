#!/usr/bin/python3
# fake_server.py — a hostile OPC UA TCP server for the collector's robustness test.
#
# Test support only. Usage: fake_server.py PORT. Each new connection gets the next
# misbehaviour in SCENARIOS (cycling) and the server prints "served N NAME" per
# connection. Nothing here follows the protocol on purpose.
import socket
import struct
import sys
import threading


def chunk(kind, final, body):
    return kind + final + struct.pack("<I", 8 + len(body)) + body


def ack(recv=65536, send=65536, maxmsg=0, maxchunks=0):
    return chunk(b"ACK", b"F", struct.pack("<5I", 0, recv, send, maxmsg, maxchunks))


def garbage(conn):
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def err(conn):
    reason = b"too many sessions (fake)"
    conn.sendall(chunk(b"ERR", b"F", struct.pack("<Ii", 0x80B70000, len(reason)) + reason))


def small_ack(conn):
    conn.sendall(ack(recv=16, send=16))


def huge_size(conn):
    conn.sendall(ack() + b"MSGF" + struct.pack("<I", 0xFFFFFFF0) + b"\0" * 64)


def endless_chunks(conn):
    conn.sendall(ack())
    body = struct.pack("<4I", 0, 0, 1, 1) + b"\xab" * 8000
    for i in range(1000):  # the client must give up long before
        try:
            conn.sendall(chunk(b"MSG", b"C", body[:8] + struct.pack("<I", i + 1) + body[12:]))
        except OSError:
            return


def truncated(conn):
    conn.sendall(ack() + b"OPNF" + struct.pack("<I", 200) + b"\0" * 20)


def bad_opn(conn):
    body = struct.pack("<I", 5) + struct.pack("<i", 4) + b"None" + struct.pack("<ii", -1, -1)
    body += struct.pack("<II", 1, 1) + b"\x01\x00\xc1\x01" + b"\xff" * 40
    conn.sendall(ack() + chunk(b"OPN", b"F", body))


def bad_sizes(conn):
    conn.sendall(ack() + b"MSGF" + struct.pack("<I", 4))


def wrong_type(conn):
    conn.sendall(ack() + chunk(b"HEL", b"F", b"\0" * 24))


SCENARIOS = [garbage, err, small_ack, huge_size, endless_chunks, truncated, bad_opn, bad_sizes, wrong_type]


def serve(conn, n):
    sc = SCENARIOS[n % len(SCENARIOS)]
    try:
        conn.settimeout(5)
        conn.recv(4096)  # the client's HEL
        sc(conn)
        conn.settimeout(2)
        while conn.recv(4096):
            pass
    except OSError:
        pass
    finally:
        conn.close()
        print(f"served {n} {sc.__name__}", flush=True)


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen(16)
    print("READY", flush=True)
    n = 0
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, n), daemon=True).start()
        n += 1


if __name__ == "__main__":
    main()
