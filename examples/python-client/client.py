#!/usr/bin/env python3
"""Join a Talkbook notebook from Python, read it with Jupyter's own notebook model
(jupyter_ydoc's YNotebook on a pycrdt document), list the cells and their authors,
add a code cell, then print live changes until Ctrl-C.

    python examples/python-client/client.py --url ws://127.0.0.1:8080/ws --notebook ID --token TOKEN

Needs: pip install pycrdt jupyter_ydoc websockets   (in this repository: .venv, made by
scripts/python-env, has them: .venv/bin/python examples/python-client/client.py ...)
"""

import argparse
import asyncio
import sys
import urllib.parse
import uuid

from jupyter_ydoc import YNotebook
from pycrdt import Doc, Map, Provider
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

SYNC, AUTH = 0, 2  # y-websocket message types


class Channel:
    """Adapts a `websockets` connection to pycrdt's Provider, which speaks the y-websocket
    sync protocol (step 1, step 2, updates) over any object with send/recv.

    The Provider only understands sync messages, so this passes it those and handles the
    rest itself: it prints Talkbook's "permission denied" (auth, type 2) messages and skips
    awareness (type 1). When the server closes the connection it prints the code and reason
    (4401 bad token, 4403 access revoked, 4404 notebook deleted, 1001 server restart ...)."""

    def __init__(self, websocket, path):
        self._ws, self._path = websocket, path
        self.closed = asyncio.Event()

    @property
    def path(self):
        return self._path

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await self.recv()
        except ConnectionClosed:
            print(f"! connection closed: {self._ws.close_code} {self._ws.close_reason or ''}")
            self.closed.set()
            raise StopAsyncIteration

    async def send(self, message):
        await self._ws.send(message)

    async def recv(self):
        while True:
            message = await self._ws.recv()
            if message[0] == SYNC:
                return message
            if message[0] == AUTH and len(message) > 2 and message[1] == 0:
                # permission denied (subtype 0), then the reason as a varuint-prefixed string
                print(f"! permission denied: {read_var_string(message, 2)}")


def read_var_string(buf, pos):
    n, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return bytes(buf[pos : pos + n]).decode("utf-8")


async def main(args):
    # URL = {url}/{notebook}?token=TOKEN, as the JavaScript y-websocket provider builds it.
    url = f"{args.url.rstrip('/')}/{args.notebook}"
    if args.token:
        url += "?" + urllib.parse.urlencode({"token": args.token})

    # 1. One pycrdt document per notebook; YNotebook reads and writes it with Jupyter's
    #    layout (`cells`, `meta`, `state`). Talkbook adds `provenance`, written only by
    #    the server: cell id -> {author, author_name, created_at}.
    doc = Doc()
    notebook = YNotebook(doc)
    provenance = doc.get("provenance", type=Map)

    def author_of(cell_id):
        p = provenance.get(cell_id)
        p = p.to_py() if isinstance(p, Map) else p
        return (p.get("author_name") or p.get("author")) if p else "(author not recorded)"

    def describe(i):
        cell = notebook.get_cell(i)  # a plain nbformat cell dict, as Jupyter sees it
        first = cell["source"].split("\n")[0][:60]
        return f"#{i} {cell['cell_type']} {cell.get('id')} by {author_of(cell.get('id'))}: {first}"

    # 2. Connect (a refused token fails here with HTTP 401), then sync.
    async with connect(url, max_size=None, proxy=None) as websocket:
        channel = Channel(websocket, args.notebook)
        async with Provider(doc, channel) as provider:
            await provider.synced.wait()
            print(f"joined {args.notebook}: {notebook.cell_number} cell(s)")
            for i in range(notebook.cell_number):
                print("  " + describe(i))

            # 3. Add a code cell through Jupyter's model; the server records you as author.
            cell_id = str(uuid.uuid4())
            notebook.append_cell(
                {
                    "id": cell_id,
                    "cell_type": "code",
                    "source": args.source,
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
            )
            print(f"added code cell {cell_id}")
            # Running it is not part of the sync protocol: it will be a call to Talkbook's
            # HTTP API (SPEC §10, "cells (run)"); the outputs then stream into this document.

            # 4. Live changes. YNotebook.observe reports pycrdt events under `cells`;
            #    event.path says which cell (and which of its keys) changed.
            def on_change(topic, events):
                if topic != "cells":
                    return
                for event in events:
                    path = list(event.path)
                    if not path:
                        print(f"~ cells inserted/deleted: now {notebook.cell_number} cell(s)")
                    elif path[0] < notebook.cell_number:
                        what = path[1] if len(path) > 1 else "cell"
                        print(f"~ {what}: {describe(path[0])}")

            notebook.observe(on_change)
            provenance.observe(
                lambda event: [print(f"[server] author of {k}: {author_of(k)}") for k in event.keys]
            )
            print("live changes follow (Ctrl-C to quit)")
            await channel.closed.wait()  # until the server closes the connection
    return 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Join a Talkbook notebook with pycrdt + jupyter_ydoc")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    parser.add_argument("--notebook", required=True, help="notebook id (the room name)")
    parser.add_argument("--token", help="personal API token")
    parser.add_argument("--source", default='print("hello from the Python client")')
    try:
        sys.exit(asyncio.run(main(parser.parse_args())))
    except KeyboardInterrupt:
        sys.exit(0)
