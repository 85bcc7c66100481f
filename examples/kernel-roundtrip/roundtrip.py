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
status and the `execute_reply` for the request. The two sides take turns, run by run, so
that both see the same machine; each has its own kernel of the same kernelspec.

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


def var_bytes(b: bytes) -> bytes:
    return var_uint(len(b)) + b


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


class Talkbook:
    """The Talkbook side: a notebook with the `bench` cell, a keep-alive HTTP connection and
    a y-websocket client of the notebook."""

    def __init__(self, args):
        self.args = args
        self.http = Http(args.url, args.token)
        self.watch = None
        self.count = None  # the kernel's execution_count of the last run
        self.ws = self.watcher = self.reader = None
        self.notebook, self.created_project = None, False

    async def open(self):
        args, http = self.args, self.http
        await http.open()
        self.project = args.project
        if self.project is None:
            body = json.dumps({"name": f"kernel-roundtrip-{int(time.time())}"}).encode()
            self.project = (await http.request("POST", "/api/projects", body))["id"]
            self.created_project = True
            log(f"project {self.project} created")
        name = urllib.parse.quote(f"roundtrip-{time.strftime('%Y%m%d-%H%M%S')}")
        imported = await http.request(
            "POST",
            f"/api/projects/{self.project}/notebooks/import?name={name}",
            notebook_file(),
            content_type="application/x-ipynb+json",
        )
        self.notebook = imported["notebook"]["id"]
        log(f"notebook {self.notebook} imported")
        self.path = f"/api/notebooks/{self.notebook}/cells/{CELL_ID}/run"

        ws_base = urllib.parse.urlsplit(args.url)._replace(scheme="ws").geturl().rstrip("/")
        ws_url = f"{ws_base}/ws/{self.notebook}?" + urllib.parse.urlencode({"token": args.token})
        self.ws = await ws_connect(ws_url, max_size=None, compression=None, proxy=None)
        self.watcher = Watcher(self.ws, self.on_change)
        self.reader = asyncio.create_task(self.watcher.run())
        await asyncio.wait_for(self.watcher.synced.wait(), 10)
        if self.watcher.cell() is None:
            raise SystemExit(f"the notebook has no cell {CELL_ID!r}")
        log("WebSocket client synced")

    def on_change(self, now):
        if self.watch is not None and (cell := self.watcher.cell()) is not None:
            self.watch.check(cell, now)

    async def run_once(self):
        """One run; returns (execute_result visible, 202 received, idle visible) in seconds
        from the request."""
        self.watch = watch = RunWatch(None if self.count is None else self.count + 1)
        t0 = time.perf_counter()
        self.http.send("POST", self.path)
        status, body = await self.http.response()
        t_accepted = time.perf_counter()
        if status != 202:
            raise SystemExit(f"run: HTTP {status}: {body.decode(errors='replace')}")
        await asyncio.wait(
            {watch.done, self.reader}, timeout=self.args.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if self.reader.done():
            raise SystemExit(f"the WebSocket connection ended: {self.reader.exception() or 'closed'}")
        if not watch.done.done():
            raise SystemExit(f"no execute_result in the document after {self.args.timeout} s")
        self.watch, self.count = None, watch.seen_count
        return watch.t_result - t0, t_accepted - t0, watch.t_idle - t0

    async def close(self):
        """Shuts the notebook's kernel down (it would count against the kernels-per-user
        limit until the idle timeout) and, unless --keep, deletes what was created."""
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.notebook is not None:
            kernels = (await self.http.request("GET", "/api/kernels"))["kernels"]
            for kernel in kernels:
                if kernel["notebook_id"] == self.notebook:
                    await self.http.request("DELETE", f"/api/kernels/{kernel['id']}", expect=(204,))
            if not self.args.keep:
                if self.created_project:
                    await self.http.request("DELETE", f"/api/projects/{self.project}", expect=(204,))
                else:
                    await self.http.request("DELETE", f"/api/notebooks/{self.notebook}", expect=(204,))
        await self.http.close()


# ---------------------------------------------------------------- jupyter_client, directly
class Direct:
    """The direct side: jupyter_client's blocking client and a kernel of its own. Its calls
    block the event loop, which is idle then: no Talkbook run is in flight."""

    def __init__(self, args):
        from jupyter_client.manager import start_new_kernel

        self.timeout = args.timeout
        self.cwd = tempfile.TemporaryDirectory()
        self.km, self.kc = start_new_kernel(kernel_name=args.kernel, cwd=self.cwd.name)

    def run_once(self):
        """One run; returns (execute_result, execute_result + idle + execute_reply) in
        seconds from the request."""
        kc = self.kc
        t0 = time.perf_counter()
        msg_id = kc.execute(SOURCE)
        t_result, idle, value = None, False, None
        while not idle:
            msg = kc.get_iopub_msg(timeout=self.timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "execute_result":
                t_result, value = time.perf_counter(), msg["content"]["data"].get("text/plain")
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        while kc.get_shell_msg(timeout=self.timeout)["parent_header"].get("msg_id") != msg_id:
            pass
        t_done = time.perf_counter()
        if value != "2":
            raise SystemExit(f"jupyter_client: unexpected result {value!r}")
        return t_result - t0, t_done - t0

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)
        self.cwd.cleanup()


async def measure(args):
    """Runs both sides alternately (which one goes first alternates too), so that both see
    the same machine: on a shared machine the load changes from one second to the next."""
    talkbook = Talkbook(args)
    direct = None
    samples = {k: [] for k in ("tb_result", "tb_accepted", "tb_idle", "jc_result", "jc_done")}
    try:
        await talkbook.open()
        direct = Direct(args)
        log(f"both kernels: the first Talkbook run starts its kernel; {args.warmup} warm-up runs")
        for i in range(args.warmup + args.runs):
            if i % 2 == 0:
                tb = await talkbook.run_once()
                jc = direct.run_once()
            else:
                jc = direct.run_once()
                tb = await talkbook.run_once()
            if i >= args.warmup:
                for key, value in zip(("tb_result", "tb_accepted", "tb_idle", "jc_result", "jc_done"), tb + jc):
                    samples[key].append(value)
            if i == args.warmup - 1 or (i + 1 - args.warmup) % 50 == 0:
                log(f"{i + 1} runs of each (Talkbook execution_count {talkbook.count})")
        log(f"done (project {talkbook.project}, notebook {talkbook.notebook})")
    finally:
        if direct is not None:
            direct.close()
        await talkbook.close()
    return samples


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
    p.add_argument("--keep", action="store_true", help="keep the project (or notebook) made for the run")
    args = p.parse_args()
    if args.runs < 1 or args.warmup < 1:
        p.error("--runs and --warmup must be at least 1")

    s = asyncio.run(measure(args))
    talkbook, direct = summary(s["tb_result"]), summary(s["jc_done"])
    paired = sorted(t - d for t, d in zip(s["tb_result"], s["jc_done"]))
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
                # Where the Talkbook span goes, the like-for-like direct span (up to the
                # execute_result only), and the run-by-run difference of neighbouring runs.
                "detail": {
                    "talkbook_http_202_ms": summary(s["tb_accepted"]),
                    "talkbook_idle_visible_ms": summary(s["tb_idle"]),
                    "jupyter_client_execute_result_ms": summary(s["jc_result"]),
                    "paired_difference_ms": {"p50": ms(pick(paired, 0.5)), "p99": ms(pick(paired, 0.99))},
                },
            },
            separators=(",", ":"),
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
