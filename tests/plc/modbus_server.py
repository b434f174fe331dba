#!/usr/bin/python3
# modbus_server.py — the PLC tests' Modbus TCP peer: a real pymodbus 3.0 server.
#
# Test support only. `modbus_server.py PORT [--unit-count N]` serves holding 0-199, input
# 0-99, coils 0-99 and discrete inputs 0-99 (zero_mode: address 0 is the first); any
# address beyond answers exception 2 (illegal data address). It prints READY when it
# listens, then takes one JSON command per stdin line and answers one JSON line:
#   {"op":"set","area":"hr|ir|co|di","addr":N,"values":[...]}   → {"ok":true}
#   {"op":"get","area":"hr","addr":N,"count":N}                 → {"values":[...]}
#   {"op":"reads"}  → {"reads":[[fc,addr,count],...]}  every read request seen (validate)
#   {"op":"clear"}  → forget the reads seen so far
#   {"op":"bench","tags":N,"period":S}  change N holding registers every S seconds
import asyncio
import json
import os
import sys
import threading

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server import StartAsyncTcpServer

AREA_FC = {"co": 1, "di": 2, "hr": 3, "ir": 4}
READ_FCS = {1, 2, 3, 4}


class CountingContext(ModbusSlaveContext):
    """Remembers every read request's (function code, address, count)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.reads = []
        self.lock = threading.Lock()

    def validate(self, fc_as_hex, address, count=1):
        if fc_as_hex in READ_FCS:
            with self.lock:
                self.reads.append([fc_as_hex, address, count])
        return super().validate(fc_as_hex, address, count)


def main():
    port = int(sys.argv[1])
    slave = CountingContext(
        di=ModbusSequentialDataBlock(0, [0] * 100),
        co=ModbusSequentialDataBlock(0, [0] * 100),
        hr=ModbusSequentialDataBlock(0, [0] * 200),
        ir=ModbusSequentialDataBlock(0, [0] * 100),
        zero_mode=True)
    ctx = ModbusServerContext(slaves=slave, single=True)
    bench = {"task": None}

    async def bench_loop(n, period):
        k = 0
        while True:
            k += 1
            slave.setValues(3, 0, [(k + i) & 0xFFFF for i in range(min(n, 200))])
            await asyncio.sleep(period)

    def handle(cmd, loop):
        op = cmd.get("op")
        if op == "set":
            slave.setValues(AREA_FC[cmd["area"]], cmd["addr"], cmd["values"])
            return {"ok": True}
        if op == "get":
            return {"values": list(slave.getValues(AREA_FC[cmd["area"]], cmd["addr"], cmd.get("count", 1)))}
        if op == "reads":
            with slave.lock:
                return {"reads": list(slave.reads)}
        if op == "clear":
            with slave.lock:
                slave.reads.clear()
            return {"ok": True}
        if op == "bench":
            bench["task"] = asyncio.run_coroutine_threadsafe(bench_loop(cmd["tags"], cmd["period"]), loop)
            return {"ok": True}
        return {"error": f"unknown op {op!r}"}

    def stdin_reader(loop):
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                out = handle(json.loads(line), loop)
            except Exception as e:  # noqa: BLE001 — report, keep serving
                out = {"error": repr(e)}
            print(json.dumps(out), flush=True)
        os._exit(0)  # stdin closed: the test that started us is gone

    async def run():
        server = await StartAsyncTcpServer(context=ctx, address=("127.0.0.1", port), defer_start=True)
        loop = asyncio.get_running_loop()
        threading.Thread(target=stdin_reader, args=(loop,), daemon=True).start()
        task = asyncio.create_task(server.serve_forever())
        for _ in range(200):  # listening yet?
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        print("READY", flush=True)
        await task

    asyncio.run(run())


if __name__ == "__main__":
    main()
