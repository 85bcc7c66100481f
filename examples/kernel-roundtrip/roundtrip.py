#!/usr/bin/env python3
"""Kernel round-trip benchmark (SPEC §11): `1+1` run N times through Talkbook, and the same
N runs through jupyter_client talking to an ipykernel directly; p50/p99 of both and the
difference. Prints one JSON line on stdout, progress on stderr.

    .venv/bin/python examples/kernel-roundtrip/roundtrip.py --url http://127.0.0.1:8080 \
        --token TOKEN [--runs 200] [--warmup 20] [--project ID]

Talkbook span: from just before `POST /api/notebooks/{id}/cells/bench/run` is written to
the (already open, keep-alive) HTTP connection, to the moment a y-websocket client of the
notebook has applied the update that shows this run's `execute_result` ("2") in the cell.
jupyter_client span: from `execute()` to having the `execute_result`, the kernel's `idle`
status and the `execute_reply` for the request.

Both sides use the kernelspec named by --kernel, as Jupyter finds it (JUPYTER_PATH, the
environment's share/jupyter ...); start the server with the same JUPYTER_PATH.
"""

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
import urllib.parse

from pycrdt import Array, Doc, Map
from websockets.asyncio.client import connect as ws_connect

CELL_ID = "bench"
SOURCE = "1+1"
MSG_SYNC = 0
SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE = 0, 1, 2


def log(*parts):
    print("[roundtrip]", *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- HTTP on asyncio streams
class Http:
    """A minimal HTTP/1.1 client on one keep-alive asyncio connection.

    Written on asyncio streams rather than http.client so that a request never blocks the
    event loop: the WebSocket's frames are read, and stamped, while a request is in flight.
    Enough HTTP for Talkbook's JSON API (Content-Length or chunked bodies), nothing more."""

    def __init__(self, base_url: str, token: str):
        url = urllib.parse.urlsplit(base_url)
        if url.scheme != "http":
            raise SystemExit("--url must be http://HOST:PORT (no TLS in this benchmark)")
        self.host, self.port = url.hostname, url.port or 80
        self.token = token
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass

    def send(self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"):
        """Writes a request; read its answer with `response()`."""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Length: {len(body)}\r\n"
        )
        if body:
            head += f"Content-Type: {content_type}\r\n"
        self.writer.write(head.encode("latin-1") + b"\r\n" + body)

    async def response(self):
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the HTTP connection")
        status = int(status_line.split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while (size := int((await self.reader.readline()).split(b";")[0], 16)) > 0:
                body += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, body

    async def request(self, method, path, body=b"", content_type="application/json", expect=(200, 201)):
        self.send(method, path, body, content_type)
        await self.writer.drain()
        status, data = await self.response()
        if status not in expect:
            raise SystemExit(f"{method} {path}: HTTP {status}: {data.decode(errors='replace')}")
        return json.loads(data) if data else None


# ---------------------------------------------------------------- y-websocket client
def var_uint(n: int) -> bytes:
    out = bytearray()
    while n > 127:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


def read_var_uint(buf: bytes, pos: int):
    n, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, pos


class Watcher:
    """A y-websocket client of one notebook that calls `on_change` after every applied
    update (pycrdt document, the sync protocol's step 1 / step 2 / update; awareness and
    other message types are not needed here and are skipped)."""

    def __init__(self, ws, on_change):
        self.ws, self.on_change = ws, on_change
        self.doc = Doc()
        self.cells = self.doc.get("cells", type=Array)
        self.synced = asyncio.Event()

    async def run(self):
        await self.ws.send(bytes([MSG_SYNC, SYNC_STEP1]) + var_bytes(self.doc.get_state()))
        async for frame in self.ws:
            if isinstance(frame, str):
                continue
            changed, pos = False, 0
            while pos < len(frame):
                kind, pos = read_var_uint(frame, pos)
                if kind != MSG_SYNC:
                    break  # awareness (1), auth (2) ...: the rest of the frame is theirs
                sub, pos = read_var_uint(frame, pos)
                size, pos = read_var_uint(frame, pos)
                payload, pos = frame[pos : pos + size], pos + size
                if sub == SYNC_STEP1:
                    reply = bytes([MSG_SYNC, SYNC_STEP2]) + var_bytes(self.doc.get_update(payload))
                    await self.ws.send(reply)
                elif sub in (SYNC_STEP2, SYNC_UPDATE):
                    self.doc.apply_update(payload)
                    changed = True
                    if sub == SYNC_STEP2:
                        self.synced.set()
            if changed:
                self.on_change(time.perf_counter())

    def cell(self):
        for cell in self.cells:
            if isinstance(cell, Map) and cell.get("id") == CELL_ID:
                return cell
        return None


def var_bytes(b: bytes) -> bytes:
    return var_uint(len(b)) + b


class RunWatch:
    """What one run waits for: the cell showing this run's count and its execute_result
    (t_result), then the cell idle again (t_idle)."""

    def __init__(self, count):
        self.count = count  # None on the first run: any count (the cell had no outputs)
        self.t_result = self.t_idle = None
        self.seen_count = None
        self.done = asyncio.get_running_loop().create_future()

    def check(self, cell, now):
        if self.t_result is None:
            count = cell.get("execution_count")
            if count is None or (self.count is not None and int(count) != self.count):
                return
            outputs = cell.get("outputs")
            for out in outputs if isinstance(outputs, Array) else []:
                out = out.to_py() if isinstance(out, Map) else out
                if out.get("output_type") == "execute_result" and out["data"].get("text/plain") == "2":
                    self.t_result, self.seen_count = now, int(count)
                    break
            else:
                return
        if cell.get("execution_state") == "idle" and not self.done.done():
            self.t_idle = now
            self.done.set_result(None)


def notebook_file():
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [
                {
                    "id": CELL_ID,
                    "cell_type": "code",
                    "source": SOURCE,
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
            ],
        }
    ).encode()


async def through_talkbook(args):
    http = Http(args.url, args.token)
    await http.open()
    try:
        project = args.project
        if project is None:
            name = f"kernel-roundtrip-{int(time.time())}"
            project = (await http.request("POST", "/api/projects", json.dumps({"name": name}).encode()))["id"]
            log(f"project {project} created")
        nb_name = urllib.parse.quote(f"roundtrip-{time.strftime('%Y%m%d-%H%M%S')}")
        imported = await http.request(
            "POST",
            f"/api/projects/{project}/notebooks/import?name={nb_name}",
            notebook_file(),
            content_type="application/x-ipynb+json",
        )
        notebook = imported["notebook"]["id"]
        log(f"notebook {notebook} imported")

        ws_base = urllib.parse.urlsplit(args.url)._replace(scheme="ws").geturl().rstrip("/")
        ws_url = f"{ws_base}/ws/{notebook}?" + urllib.parse.urlencode({"token": args.token})
        watch = None

        def on_change(now):
            if watch is not None and (cell := watcher.cell()) is not None:
                watch.check(cell, now)

        async with ws_connect(ws_url, max_size=None, compression=None, proxy=None) as ws:
            watcher = Watcher(ws, on_change)
            reader = asyncio.create_task(watcher.run())
            await asyncio.wait_for(watcher.synced.wait(), 10)
            if watcher.cell() is None:
                raise SystemExit(f"the notebook has no cell {CELL_ID!r}")
            log("WebSocket client synced; running (the first run starts the kernel)")

            path = f"/api/notebooks/{notebook}/cells/{CELL_ID}/run"
            total, accepted, idle = [], [], []
            count = None
            for i in range(args.warmup + args.runs):
                watch = RunWatch(None if count is None else count + 1)
                t0 = time.perf_counter()
                http.send("POST", path)
                status, body = await http.response()
                t_accepted = time.perf_counter()
                if status != 202:
                    raise SystemExit(f"run: HTTP {status}: {body.decode(errors='replace')}")
                try:
                    await asyncio.wait_for(asyncio.shield(watch.done), args.timeout)
                except asyncio.TimeoutError:
                    raise SystemExit(f"run {i}: no execute_result in the document after {args.timeout} s")
                count = watch.seen_count
                if i >= args.warmup:
                    total.append(watch.t_result - t0)
                    accepted.append(t_accepted - t0)
                    idle.append(watch.t_idle - t0)
                if i == args.warmup - 1 or (i + 1) % 50 == 0:
                    log(f"talkbook: {i + 1} runs (execution_count {count})")
            watch = None
            reader.cancel()
        return {"result": total, "accepted": accepted, "idle": idle, "notebook": notebook, "project": project}
    finally:
        await http.close()


# ---------------------------------------------------------------- jupyter_client, directly
def through_jupyter_client(args):
    from jupyter_client.manager import start_new_kernel

    result_times, done_times = [], []
    with tempfile.TemporaryDirectory() as cwd:
        km, kc = start_new_kernel(kernel_name=args.kernel, cwd=cwd)
        try:
            for i in range(args.warmup + args.runs):
                t0 = time.perf_counter()
                msg_id = kc.execute(SOURCE)
                t_result, idle, value = None, False, None
                while not idle:
                    msg = kc.get_iopub_msg(timeout=args.timeout)
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    kind = msg["msg_type"]
                    if kind == "execute_result":
                        t_result, value = time.perf_counter(), msg["content"]["data"].get("text/plain")
                    elif kind == "status" and msg["content"]["execution_state"] == "idle":
                        idle = True
                while kc.get_shell_msg(timeout=args.timeout)["parent_header"].get("msg_id") != msg_id:
                    pass
                t_done = time.perf_counter()
                if value != "2":
                    raise SystemExit(f"jupyter_client: unexpected result {value!r}")
                if i >= args.warmup:
                    result_times.append(t_result - t0)
                    done_times.append(t_done - t0)
                if i == args.warmup - 1 or (i + 1) % 50 == 0:
                    log(f"jupyter_client: {i + 1} runs")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=False)
    return {"done": done_times, "result": result_times}


# ---------------------------------------------------------------- figures
def pick(samples, q):
    """Nearest-rank percentile of sorted samples."""
    return samples[min(max(math.ceil(len(samples) * q), 1), len(samples)) - 1]


def ms(seconds):
    return round(seconds * 1000, 3)


def summary(samples):
    s = sorted(samples)
    return {"p50": ms(pick(s, 0.50)), "p99": ms(pick(s, 0.99)), "max": ms(s[-1])}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8080", help="Talkbook's base URL (http://HOST:PORT)")
    p.add_argument("--token", required=True, help="a session or personal API token")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20, help="runs before measuring (the first starts the kernel)")
    p.add_argument("--project", type=int, help="an existing project to import the notebook into")
    p.add_argument("--kernel", default="python3", help="kernelspec for the direct jupyter_client runs")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds one run may take")
    args = p.parse_args()
    if args.runs < 1 or args.warmup < 1:
        p.error("--runs and --warmup must be at least 1")

    tb = asyncio.run(through_talkbook(args))
    log(f"talkbook done (project {tb['project']}, notebook {tb['notebook']}); now jupyter_client")
    jc = through_jupyter_client(args)

    talkbook, direct = summary(tb["result"]), summary(jc["done"])
    print(
        json.dumps(
            {
                "benchmark": "kernel_roundtrip",
                "runs": args.runs,
                "talkbook_ms": talkbook,
                "jupyter_client_ms": direct,
                "overhead_ms": {
                    "p50": round(talkbook["p50"] - direct["p50"], 3),
                    "p99": round(talkbook["p99"] - direct["p99"], 3),
                },
                # Where the Talkbook span goes, and the like-for-like direct span.
                "detail": {
                    "talkbook_http_202_ms": summary(tb["accepted"]),
                    "talkbook_idle_visible_ms": summary(tb["idle"]),
                    "jupyter_client_execute_result_ms": summary(jc["result"]),
                },
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
