#!/usr/bin/env python3
"""A scripted y-websocket client for Talkbook's end-to-end tests, in Python.

Same line protocol as tests/js/yclient.mjs (read the command list there); this
one is a pycrdt document with jupyter_ydoc's YNotebook layout, synchronised over
the `websockets` package with the y-websocket protocol built from pycrdt's own
primitives (create_sync_message / handle_sync_message-style step 1/2/update,
pycrdt.Awareness). It does not use pycrdt.Provider, because that one handles
only sync messages: it ignores awareness (1), auth / permission denied (2) and
query-awareness (3), hides close codes and does not reconnect, all of which
these tests need to see.

    .venv/bin/python tests/py/yclient.py --url ws://127.0.0.1:PORT/ws --room ROOM \
        [--token SECRET] [--name NAME] [--client-id N]

Behaviour mirrors y-websocket's WebsocketProvider, so the two can be compared:
URL `{url}/{room}?token=SECRET`; on open it sends sync step 1 and its awareness
state; "synced" on the first sync step 2; updates made while disconnected are
not queued (the step 1/2 exchange on reconnect carries them); it reconnects with
exponential backoff (100 ms * 2^n, at most 2.5 s) except after close codes
4400-4499 (unless set_reconnect says otherwise); on disconnect it drops the other
clients' awareness states. Unlike y-websocket, several messages in one frame are
all read.

Differences from the JS client that a test may care about:
- text indices in insert_text/delete_text are UTF-16 code units (as in Yjs) and
  are converted to pycrdt's UTF-8 byte offsets here;
- numbers written into the document (metadata values) are stored as floats, as
  jupyter_ydoc does, so that Yjs clients read numbers and not BigInts; dump turns
  whole floats back into integers;
- `received` records each remote transaction's update as pycrdt reports it
  (TransactionEvent.update), which is what Yjs's doc 'update' event gives too.
- `watch_cell` records a watched cell's state after each update from the
  server (not after this client's own edits): pycrdt cannot read a document
  from inside its transaction observer.
"""

import argparse
import asyncio
import json
import sys
import time
import urllib.parse

from pycrdt import Array, Awareness, Doc, Map, Text
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from ycommands import CommandError, run_command
from ywire import (
    var_uint,
    var_bytes,
    Reader,
    b64,
    whole_floats_to_ints,
    to_py,
)

MSG_SYNC, MSG_AWARENESS, MSG_AUTH, MSG_QUERY_AWARENESS = 0, 1, 2, 3
SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE = 0, 1, 2
EMPTY_UPDATE = b"\x00\x00"
MAX_BACKOFF = 2.5


class Client:
    def __init__(self, args):
        self.args = args
        self.t0 = time.monotonic()
        self.doc = Doc(client_id=args.client_id) if args.client_id is not None else Doc()
        self.cells = self.doc.get("cells", type=Array)
        self.meta = self.doc.get("meta", type=Map)
        self.provenance = self.doc.get("provenance", type=Map)
        self.awareness = Awareness(self.doc)
        if args.name:
            self.awareness.set_local_state({"user": {"name": args.name}})
        params = {"token": args.token} if args.token is not None else {}
        self.url = args.url.rstrip("/") + "/" + args.room
        if params:
            self.url += "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)

        self.events: list[dict] = []
        self.received: list[str] = []
        self.ws = None
        self.out: asyncio.Queue | None = None
        self.connected = False
        self.synced = False
        self.should_connect = False
        self.reconnect = "default"  # "default" | "never" | "always"
        self.unsuccessful = 0
        self.task: asyncio.Task | None = None
        self._remote = False
        self._waiters: set[asyncio.Future] = set()
        self._event_waiters: set = set()
        # watch_cell: cell id -> [JSON text of the last state, distinct states in order]
        self.watches: dict[str, list] = {}
        self.doc.observe(self._on_transaction)
        self.awareness.observe(self._on_awareness)

    # ----- bookkeeping -----
    def log(self, *parts):
        ms = int((time.monotonic() - self.t0) * 1000)
        print(f"[yclient.py {self.args.name} +{ms}ms]", *parts, file=sys.stderr, flush=True)

    def record(self, ev: dict):
        ev["t_ms"] = int((time.monotonic() - self.t0) * 1000)
        self.events.append(ev)
        self.log("event", json.dumps(ev))
        for w in list(self._event_waiters):
            w(ev)

    def notify(self):
        for f in list(self._waiters):
            if not f.done():
                f.set_result(None)

    async def wait_until(self, pred, timeout_ms) -> bool:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if pred():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return pred()
            fut = asyncio.get_running_loop().create_future()
            self._waiters.add(fut)
            try:
                await asyncio.wait_for(fut, min(left, 0.1))
            except asyncio.TimeoutError:
                pass
            finally:
                self._waiters.discard(fut)

    def set_synced(self, state: bool):
        if self.synced != state:
            self.synced = state
            if state:
                self.unsuccessful = 0
            self.record({"type": "sync", "synced": state})

    # ----- document / awareness -> server -----
    def send(self, msg: bytes):
        if self.connected and self.out is not None:
            self.out.put_nowait(msg)

    def _on_transaction(self, event):
        update = event.update
        if update != EMPTY_UPDATE:
            if self._remote:
                self.received.append(b64(update))
            else:
                self.send(bytes([MSG_SYNC, SYNC_UPDATE]) + var_bytes(update))
        self.notify()

    def _on_awareness(self, topic, payload):
        changes, origin = payload
        if topic == "update" and origin == "local":
            clients = changes["added"] + changes["updated"] + changes["removed"]
            self.send(
                bytes([MSG_AWARENESS]) + var_bytes(self.awareness.encode_awareness_update(clients))
            )
        self.notify()

    def apply_remote(self, update: bytes):
        if update == EMPTY_UPDATE:
            return
        self._remote = True
        try:
            self.doc.apply_update(update)
        finally:
            self._remote = False
        # Here and not in the transaction observer: pycrdt cannot read the document
        # from inside its own observer ("Already mutably borrowed").
        self.record_watches()

    # ----- server -> client -----
    def handle_frame(self, frame: bytes):
        r = Reader(frame)
        while not r.done():  # y-websocket reads only the first message of a frame
            kind = r.uint()
            if kind == MSG_SYNC:
                sub = r.uint()
                payload = r.bytes()
                if sub == SYNC_STEP1:
                    self.send(bytes([MSG_SYNC, SYNC_STEP2]) + var_bytes(self.doc.get_update(payload)))
                elif sub in (SYNC_STEP2, SYNC_UPDATE):
                    self.apply_remote(payload)
                    if sub == SYNC_STEP2:
                        self.set_synced(True)
                else:
                    self.log(f"unknown sync message type {sub}")
                    return
            elif kind == MSG_AWARENESS:
                self.awareness.apply_awareness_update(r.bytes(), "remote")
            elif kind == MSG_AUTH:
                if r.uint() == 0:
                    self.record({"type": "permission-denied", "reason": r.string()})
                else:
                    return
            elif kind == MSG_QUERY_AWARENESS:
                states = list(self.awareness.states.keys())
                self.send(bytes([MSG_AWARENESS]) + var_bytes(self.awareness.encode_awareness_update(states)))
            else:
                self.log(f"unknown message type {kind}")
                return

    # ----- connection lifecycle -----
    def should_reconnect(self, code) -> bool:
        if self.reconnect == "never":
            return False
        if self.reconnect == "always":
            return True
        return not (code is not None and 4400 <= code < 4500)

    async def _sender(self, ws, queue):
        while True:
            msg = await queue.get()
            await ws.send(msg)

    async def _run(self):
        while self.should_connect:
            self.record({"type": "status", "status": "connecting"})
            code, reason, was_clean = 1006, "", False
            ws = None
            try:
                ws = await ws_connect(
                    self.url, max_size=None, compression=None, proxy=None, open_timeout=10
                )
            except InvalidStatus as e:
                self.record(
                    {
                        "type": "connection-error",
                        "message": str(e),
                        "http_status": e.response.status_code,
                    }
                )
            except (OSError, InvalidHandshake, asyncio.TimeoutError) as e:
                self.record({"type": "connection-error", "message": f"{type(e).__name__}: {e}"})
            if ws is not None:
                self.ws = ws
                self.out = asyncio.Queue()
                self.connected = True
                sender = asyncio.create_task(self._sender(ws, self.out))
                try:
                    self.record({"type": "status", "status": "connected"})
                    self.send(bytes([MSG_SYNC, SYNC_STEP1]) + var_bytes(self.doc.get_state()))
                    if self.awareness.get_local_state() is not None:
                        upd = self.awareness.encode_awareness_update([self.doc.client_id])
                        self.send(bytes([MSG_AWARENESS]) + var_bytes(upd))
                    try:
                        async for frame in ws:
                            if isinstance(frame, str):
                                self.log("ignoring a text frame")
                                continue
                            try:
                                self.handle_frame(frame)
                            except Exception as e:  # a bad message must not kill the client
                                self.log(f"bad message from server: {type(e).__name__}: {e}")
                                self.record({"type": "bad-message", "message": str(e)})
                    except ConnectionClosed:
                        pass
                    code, reason = ws.close_code, ws.close_reason or ""
                    if code is None:
                        code = 1006
                    was_clean = getattr(ws.protocol, "close_rcvd", None) is not None
                finally:
                    sender.cancel()
                    self._drop_connection()
            self.record(
                {"type": "connection-close", "code": code, "reason": reason, "was_clean": was_clean}
            )
            self.unsuccessful += 1
            if not self.should_reconnect(code):
                self.should_connect = False
                self.record({"type": "closed", "code": code, "reason": reason})
                break
            await asyncio.sleep(min(2**self.unsuccessful * 0.1, MAX_BACKOFF))

    def _drop_connection(self):
        was_connected = self.connected
        self.connected = False
        self.ws = None
        self.out = None
        if was_connected:
            self.set_synced(False)
            others = [c for c in self.awareness.states if c != self.doc.client_id]
            self.awareness.remove_awareness_states(others, "disconnect")
            self.record({"type": "status", "status": "disconnected"})

    def start(self):
        self.should_connect = True
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    async def disconnect(self):
        self.should_connect = False
        task, ws = self.task, self.ws
        self.task = None
        if ws is not None and self.awareness.get_local_state() is not None:
            # tell the others we left, as y-websocket's disconnect() does: our state as null
            # with the current clock (a higher clock would make our next state look stale)
            cid = self.doc.client_id
            clock = self.awareness.meta.get(cid, {}).get("clock", 0)
            msg = var_uint(1) + var_uint(cid) + var_uint(clock) + var_bytes(b"null")
            try:
                await asyncio.wait_for(ws.send(bytes([MSG_AWARENESS]) + var_bytes(msg)), 1)
            except Exception:
                pass
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
            if ws is not None:
                try:
                    await asyncio.wait_for(ws.close(), 2)
                except Exception:
                    pass
            was = self.connected
            self._drop_connection()
            if was or ws is not None:
                self.record(
                    {"type": "connection-close", "code": None, "reason": "closed locally", "was_clean": True}
                )

    async def connect(self, timeout_ms):
        if self.connected and self.synced:
            return {"ok": True, "client_id": self.doc.client_id}
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        last_error = {}

        def on_event(ev):
            if done.done():
                return
            t = ev["type"]
            if t == "sync" and ev["synced"]:
                done.set_result({"ok": True, "client_id": self.doc.client_id})
            elif t == "connection-error":
                last_error.clear()
                last_error.update(ev)
            elif t in ("connection-close", "closed"):
                reply = {
                    "ok": False,
                    "error": ev["reason"] or last_error.get("message") or f"closed with code {ev['code']}",
                    "close_code": ev["code"],
                    "close_reason": ev["reason"],
                }
                if "http_status" in last_error:
                    reply["http_status"] = last_error["http_status"]
                done.set_result(reply)

        self._event_waiters.add(on_event)
        try:
            self.start()
            try:
                reply = await asyncio.wait_for(asyncio.shield(done), timeout_ms / 1000)
            except asyncio.TimeoutError:
                reply = {"ok": False, "error": "timeout"}
                if last_error:
                    reply["last_error"] = last_error.get("message")
        finally:
            self._event_waiters.discard(on_event)
        if not reply["ok"]:
            await self.disconnect()  # stop retrying: the test decides what is next
        return reply

    # ----- document helpers -----
    def find_cell(self, cell_id):
        for i, c in enumerate(self.cells):
            if isinstance(c, Map) and c.get("id") == cell_id:
                return i, c
        return None

    def need_cell(self, cell_id):
        found = self.find_cell(cell_id)
        if found is None:
            raise CommandError(f"no cell with id {json.dumps(cell_id)}")
        return found

    def need_text(self, cell_id) -> Text:
        src = self.need_cell(cell_id)[1].get("source")
        if not isinstance(src, Text):
            raise CommandError(f"cell {cell_id} has no Y.Text source")
        return src

    def dump(self):
        cells, states = [], {}
        for c in self.cells:
            cell = whole_floats_to_ints(to_py(c))
            if isinstance(cell, dict) and "execution_state" in cell:
                if "id" in cell:
                    states[cell["id"]] = cell["execution_state"]
                del cell["execution_state"]
            cells.append(cell)
        meta = whole_floats_to_ints(self.meta.to_py() or {})
        return {
            "notebook": {
                "cells": cells,
                "metadata": meta.get("metadata", {}),
                "nbformat": meta.get("nbformat"),
                "nbformat_minor": meta.get("nbformat_minor"),
            },
            "cell_count_raw": len(self.cells),
            "provenance": whole_floats_to_ints(self.provenance.to_py() or {}),
            "talkbook": whole_floats_to_ints(self.doc.get("talkbook", type=Map).to_py() or {}),
            "execution_states": states,
        }

    def cell_run_state(self, cell_id):
        """What watch_cell records of a cell: run state and outputs (None: no such cell)."""
        found = self.find_cell(cell_id)
        if found is None:
            return None
        cell = found[1]
        outputs = cell.get("outputs")
        return whole_floats_to_ints(
            {
                "execution_state": cell.get("execution_state"),
                "execution_count": cell.get("execution_count"),
                "outputs": outputs.to_py() if isinstance(outputs, Array) else None,
            }
        )

    def record_watches(self):
        for cell_id, watch in self.watches.items():
            state = self.cell_run_state(cell_id)
            text = json.dumps(state, sort_keys=True)
            if text != watch[0]:
                watch[0] = text
                watch[1].append(state)

    def others(self):
        return {c: s for c, s in self.awareness.states.items() if c != self.doc.client_id}




def write(obj):
    try:
        line = json.dumps(obj, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        line = json.dumps({"id": obj.get("id"), "ok": False, "error": f"reply not serialisable: {e}"})
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(args) -> int:
    cl = Client(args)
    awareness_task = asyncio.create_task(cl.awareness.start())  # renews our state, expires others
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    cl.log(f"ready: {cl.url} client_id={cl.doc.client_id}")
    try:
        while True:
            raw = await reader.readline()
            if not raw:
                break
            line = raw.decode("utf-8").strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
            except json.JSONDecodeError as e:
                write({"id": None, "ok": False, "error": f"bad JSON: {e}"})
                continue
            cid = cmd.get("id") if isinstance(cmd, dict) else None
            if not isinstance(cmd, dict) or not isinstance(cmd.get("cmd"), str):
                write({"id": cid, "ok": False, "error": 'expected an object with a "cmd" string'})
                continue
            if cmd["cmd"] == "exit":
                write({"id": cid, "ok": True})
                break
            try:
                reply = await run_command(cl, cmd)
            except CommandError as e:
                reply = {"ok": False, "error": str(e)}
            except Exception as e:
                cl.log(f"command {cmd['cmd']} failed: {type(e).__name__}: {e}")
                reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            write({"id": cid, **reply})
    finally:
        await flush_and_close(cl)
        awareness_task.cancel()
    return 0


async def flush_and_close(cl: Client):
    """Let queued messages reach the server before leaving."""
    deadline = time.monotonic() + 2
    while cl.out is not None and not cl.out.empty() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await cl.disconnect()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="ws://HOST:PORT/ws")
    p.add_argument("--room", required=True, help="room name = notebook id")
    p.add_argument("--token")
    p.add_argument("--name", default="py")
    p.add_argument("--client-id", type=int, dest="client_id")
    try:
        sys.exit(asyncio.run(main(p.parse_args())))
    except KeyboardInterrupt:
        sys.exit(0)
