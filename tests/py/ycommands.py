"""The commands of tests/py/yclient.py's line protocol (listed in tests/js/yclient.mjs),
each run on a Client: one dispatch, so the client module keeps to the connection and
the document."""

from __future__ import annotations

import base64
import json
import uuid
from typing import TYPE_CHECKING

from pycrdt import Array, Map, Text
from ywire import b64, ints_to_floats, utf16_len, utf16_to_utf8_offset

if TYPE_CHECKING:
    from yclient import Client


class CommandError(Exception):
    """A command that cannot be carried out; its message is the reply's error."""


def need_int(cmd, key):
    v = cmd.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise CommandError(f'"{key}" must be a non-negative integer')
    return v


async def run_command(cl: Client, cmd: dict) -> dict:
    name = cmd["cmd"]
    doc = cl.doc
    if name == "connect":
        return await cl.connect(cmd.get("timeout_ms") or 15000)
    if name == "disconnect":
        await cl.disconnect()
        return {"ok": True}
    if name == "set_reconnect":
        if not isinstance(cmd.get("enabled"), bool):
            raise CommandError('"enabled" must be true or false')
        cl.reconnect = (
            "never" if not cmd["enabled"] else "always" if cmd.get("all_codes") else "default"
        )
        return {"ok": True}
    if name == "init_notebook":
        with doc.transaction():
            if cl.meta.get("nbformat") is None:
                cl.meta["nbformat"] = 4.0
                cl.meta["nbformat_minor"] = 5.0
                if not isinstance(cl.meta.get("metadata"), Map):
                    cl.meta["metadata"] = Map()
        return {"ok": True}
    if name == "add_cell":
        cell_type = cmd.get("cell_type") or "code"
        if cell_type not in ("code", "markdown", "raw"):
            raise CommandError(f"bad cell_type {cell_type}")
        cell_id = cmd.get("cell_id") or str(uuid.uuid4())
        index = cmd.get("index")
        if index is not None and (
            not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= len(cl.cells)
        ):
            raise CommandError(f"index {index} out of range (0..{len(cl.cells)})")
        fields = {
            "id": cell_id,
            "cell_type": cell_type,
            "source": Text(cmd.get("source") or ""),
            "metadata": Map(ints_to_floats(cmd.get("metadata") or {})),
        }
        if cell_type == "code":
            fields.update(outputs=Array(), execution_count=None, execution_state="idle")
        with doc.transaction():
            if index is None:
                cl.cells.append(Map(fields))
            else:
                cl.cells.insert(index, Map(fields))
        return {"ok": True, "cell_id": cell_id}
    if name == "insert_text":
        t = cl.need_text(cmd.get("cell_id"))
        s = str(t)
        try:
            off = utf16_to_utf8_offset(s, need_int(cmd, "index"))
        except ValueError as e:
            raise CommandError(str(e))
        t.insert(off, str(cmd.get("text") or ""))
        return {"ok": True}
    if name == "delete_text":
        t = cl.need_text(cmd.get("cell_id"))
        s = str(t)
        index, length = need_int(cmd, "index"), need_int(cmd, "length")
        if index + length > utf16_len(s):
            raise CommandError(f"range {index}+{length} past the end ({utf16_len(s)})")
        start = utf16_to_utf8_offset(s, index)
        end = utf16_to_utf8_offset(s, index + length)
        if end > start:
            del t[start:end]
        return {"ok": True}
    if name == "delete_cell":
        index, _ = cl.need_cell(cmd.get("cell_id"))
        del cl.cells[index]
        return {"ok": True}
    if name == "move_cell":
        index, cell = cl.need_cell(cmd.get("cell_id"))
        to = need_int(cmd, "index")
        if to > len(cl.cells) - 1:
            raise CommandError(f"index {to} out of range (0..{len(cl.cells) - 1})")
        fields = {}
        for key, value in cell.items():
            if isinstance(value, Text):
                fields[key] = Text(str(value))
            elif isinstance(value, Map):
                fields[key] = Map(value.to_py())
            elif isinstance(value, Array):
                fields[key] = Array([Map(o) for o in value.to_py()])
            else:
                fields[key] = value
        with doc.transaction():
            del cl.cells[index]
            cl.cells.insert(to, Map(fields))
        return {"ok": True}
    if name == "add_output":
        _, cell = cl.need_cell(cmd.get("cell_id"))
        outputs = cell.get("outputs")
        if not isinstance(outputs, Array):
            raise CommandError(f"cell {cmd.get('cell_id')} has no outputs")
        if not isinstance(cmd.get("output"), dict):
            raise CommandError('"output" must be an object')
        outputs.append(Map(ints_to_floats(cmd["output"])))
        return {"ok": True}
    if name == "set_metadata":
        key = cmd.get("key")
        if not isinstance(key, str):
            raise CommandError('"key" must be a string')
        if cmd.get("cell_id") is None:
            md = cl.meta.get("metadata")
            if not isinstance(md, Map):
                raise CommandError("the notebook has no meta.metadata map")
        else:
            md = cl.need_cell(cmd["cell_id"])[1].get("metadata")
            if not isinstance(md, Map):
                raise CommandError(f"cell {cmd['cell_id']} has no metadata map")
        md[key] = ints_to_floats(cmd.get("value"))
        return {"ok": True}
    if name == "set_root_map":
        root, key = cmd.get("root"), cmd.get("key")
        if not isinstance(root, str) or not isinstance(key, str):
            raise CommandError('"root" and "key" must be strings')
        doc.get(root, type=Map)[key] = ints_to_floats(cmd.get("value"))
        return {"ok": True}
    if name == "apply_update":
        doc.apply_update(base64.b64decode(cmd["update"]))
        return {"ok": True}
    if name == "send_raw":
        if cl.ws is None:
            raise CommandError("not connected")
        await cl.ws.send(base64.b64decode(cmd["data"]))
        return {"ok": True}
    if name == "dump":
        return {"ok": True, **cl.dump()}
    if name == "wait_for":
        needle = str(cmd.get("contains") or "")

        def has_text():
            found = cl.find_cell(cmd.get("cell_id"))
            return found is not None and isinstance(found[1].get("source"), Text) and needle in str(
                found[1]["source"]
            )

        if await cl.wait_until(has_text, cmd.get("timeout_ms") or 10000):
            return {"ok": True}
        found = cl.find_cell(cmd.get("cell_id"))
        return {"ok": False, "error": "timeout", "source": str(found[1].get("source")) if found else None}
    if name == "wait_cells":
        count = need_int(cmd, "count")
        ok = await cl.wait_until(lambda: len(cl.cells) >= count, cmd.get("timeout_ms") or 10000)
        return {"ok": ok, "count": len(cl.cells), **({} if ok else {"error": "timeout"})}
    if name == "wait_peers":
        count = need_int(cmd, "count")
        ok = await cl.wait_until(lambda: len(cl.others()) >= count, cmd.get("timeout_ms") or 10000)
        return {"ok": ok, "count": len(cl.others()), **({} if ok else {"error": "timeout"})}
    if name == "watch_cell":
        if not isinstance(cmd.get("cell_id"), str):
            raise CommandError('"cell_id" must be a string')
        cl.watches[cmd["cell_id"]] = [None, []]
        cl.record_watches()
        return {"ok": True}
    if name == "watched":
        watch = cl.watches.get(cmd.get("cell_id"))
        if watch is None:
            raise CommandError(f"cell {json.dumps(cmd.get('cell_id'))} is not watched")
        return {"ok": True, "states": list(watch[1])}
    if name == "received":
        return {"ok": True, "updates": list(cl.received)}
    if name == "state":
        return {"ok": True, "state_vector": b64(doc.get_state()), "update": b64(doc.get_update())}
    if name == "awareness":
        cl.awareness.set_local_state(cmd.get("state"))
        return {"ok": True}
    if name == "peers":
        return {"ok": True, "peers": [{"client_id": c, "state": s} for c, s in cl.others().items()]}
    if name == "events":
        return {"ok": True, "events": list(cl.events)}
    if name == "info":
        return {
            "ok": True,
            "client_id": doc.client_id,
            "connected": cl.connected,
            "synced": cl.synced,
            "should_connect": cl.should_connect,
            "url": cl.url,
        }
    raise CommandError(f"unknown command {json.dumps(name)}")
