#!/usr/bin/env python3
"""Check that a notebook exported by Talkbook is equivalent to the original.

Usage: nb_compare.py ORIGINAL.ipynb EXPORTED.ipynb

Both files are read with the real nbformat package. EXPORTED must validate
strictly as nbformat 4.5 (every cell has an id, ids unique, no warnings).
ORIGINAL must validate too, but what nbformat only warns about (missing or
duplicate cell ids) is accepted. Only what nbformat itself normalises is
normalised: multiline strings are joined as on read, transient keys stripped,
and a 4.0-4.4 (or v3) ORIGINAL is upgraded to 4.5 with nbformat's own upgrade.
Cell ids are compared only where ORIGINAL had a (non-duplicate) 4.5 cell id.

Compared: number of cells; per cell id, cell_type, source, metadata, outputs
(every field of every output), execution_count, attachments; notebook
metadata, nbformat and nbformat_minor. EXPORTED cell metadata may carry one
extra key "talkbook" (authorship: an object with author, author_name,
created_at); it is checked for shape and then ignored (also in ORIGINAL, where
a re-imported export carries it). Numbers compare as Python does (1 == 1.0),
but a bool never equals a number.

Prints one line per difference (`cells[3].outputs[0].data["text/plain"]:
'a' != 'b'`, original value first) and exits 1; prints `equivalent` and
exits 0 when equal; exits 2 on a usage error or an unreadable/invalid
ORIGINAL or an unreadable EXPORTED file.
"""

import copy
import json
import logging
import re
import sys
import warnings

import nbformat
from nbformat.v4.rwbase import strip_transient

MISSING = object()
CELL_FIELDS = ("cell_type", "source", "metadata", "outputs", "execution_count", "attachments")
TALKBOOK_KEYS = ("author", "author_name", "created_at")
MAX_LINES = 40


def fail_usage(msg):
    print(f"nb_compare: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path):
    """Return (raw JSON dict, NotebookNode as nbformat reads it, validation error, warnings)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        raw = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        fail_usage(f"cannot read {path}: {e}")
    if not isinstance(raw, dict):
        fail_usage(f"cannot read {path}: not a JSON object")
    captured = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT, capture_validation_error=captured)
        except Exception as e:  # NBFormatError, ValidationError on unreadable versions, ...
            fail_usage(f"cannot read {path} as a notebook: {e}")
    return raw, nb, captured.get("ValidationError"), [str(w.message) for w in caught]


def short_error(e):
    return " ".join(str(getattr(e, "message", e)).split())[:300]


def fmt_key(key):
    return f".{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"[{json.dumps(key)}]"


def show(v):
    if v is MISSING:
        return "missing"
    r = repr(v)
    return r if len(r) <= 120 else f"{r[:100]}... ({len(r)} chars)"


def diff(a, b, path, out):
    """Append a line per difference between original value a and exported value b."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            diff(a.get(k, MISSING), b.get(k, MISSING), path + fmt_key(k), out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif isinstance(a, str) and isinstance(b, str) and a != b and max(len(a), len(b)) > 60:
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        s = max(0, i - 20)
        out.append(f"{path}: differs at char {i} (lengths {len(a)}, {len(b)}): "
                   f"{a[s:i + 30]!r} != {b[s:i + 30]!r}")
    elif isinstance(a, bool) != isinstance(b, bool) or a != b:
        out.append(f"{path}: {show(a)} != {show(b)}")


def main(argv):
    if len(argv) != 3 or argv[1].startswith("-"):
        fail_usage("usage: nb_compare.py ORIGINAL.ipynb EXPORTED.ipynb")
    logging.getLogger("traitlets").setLevel(logging.CRITICAL)  # nbformat logs what we report ourselves
    raw_o, orig, err_o, warn_o = load(argv[1])
    raw_e, exp, err_e, warn_e = load(argv[2])
    out = []

    # The original: invalid is a usage error, warnings are fine.
    if err_o is not None and str(err_o).startswith("No schema for validating"):
        print(f"note: original: {err_o} (nbformat has no schema for it; not validated)", file=sys.stderr)
    elif err_o is not None:
        fail_usage(f"original {argv[1]} is not a valid notebook: {short_error(err_o)}")
    for w in warn_o:
        print(f"note: original: {w}", file=sys.stderr)

    # The exported file: strictly 4.5, every cell with a unique string id, no warnings.
    version = (raw_e.get("nbformat"), raw_e.get("nbformat_minor"))
    if version != (4, 5):
        out.append(f"nbformat: exported is {version[0]}.{version[1]}, expected 4.5")
    seen = set()
    for i, cell in enumerate(raw_e.get("cells") or []):
        cid = cell.get("id", MISSING) if isinstance(cell, dict) else MISSING
        if not isinstance(cid, str):
            out.append(f"cells[{i}].id: exported cell has no string id ({show(cid)})")
        elif cid in seen:
            out.append(f"cells[{i}].id: duplicate id {cid!r} in exported")
        seen.add(cid)
    if err_e is not None:
        out.append(f"exported: nbformat.validate: {short_error(err_e)}")
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                nbformat.validate(copy.deepcopy(exp))
            except nbformat.ValidationError as e:
                out.append(f"exported: nbformat.validate: {short_error(e)}")
        warn_e += [str(w.message) for w in caught]
    for w in dict.fromkeys(warn_e):
        out.append(f"exported: nbformat warns: {' '.join(w.split())[:300]}")

    # Which original cells have an id that must survive (raw 4.5+ id, first occurrence).
    keep_id, seen = [], set()
    raw_version = (raw_o.get("nbformat", 0), raw_o.get("nbformat_minor", 0))
    for cell in raw_o.get("cells") or []:
        cid = cell.get("id") if isinstance(cell, dict) else None
        keep_id.append(raw_version >= (4, 5) and isinstance(cid, str) and cid not in seen)
        seen.add(cid)

    # nbformat's own upgrade of the original to 4.5, then what write+read would strip.
    if orig.nbformat < 4:
        orig = nbformat.convert(orig, 4)
        keep_id = [False] * len(orig.cells)
    if (orig.nbformat, orig.nbformat_minor) < (4, 5):
        orig = nbformat.v4.upgrade(orig)
    orig = strip_transient(orig)

    # Authorship record: present only in the export (or in both, for re-imports).
    for i, cell in enumerate(exp.get("cells", [])):
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        if isinstance(meta, dict) and "talkbook" in meta:
            tb = meta.pop("talkbook")
            if not isinstance(tb, dict) or any(k not in tb for k in TALKBOOK_KEYS):
                out.append(f"cells[{i}].metadata.talkbook: expected an object with "
                           f"{', '.join(TALKBOOK_KEYS)}, got {tb!r}")
    for cell in orig.cells:
        cell.get("metadata", {}).pop("talkbook", None)

    # (nbformat/nbformat_minor: the upgraded original is 4.5; the export was checked above.)
    diff(orig.get("metadata", MISSING), exp.get("metadata", MISSING), "metadata", out)

    cells_o, cells_e = orig.get("cells", []), exp.get("cells", [])
    if len(cells_o) != len(cells_e):
        out.append(f"cells: {len(cells_o)} cells != {len(cells_e)} cells")
    for i, (co, ce) in enumerate(zip(cells_o, cells_e)):
        if keep_id[i]:
            diff(co.get("id", MISSING), ce.get("id", MISSING), f"cells[{i}].id", out)
        for field in CELL_FIELDS:
            diff(co.get(field, MISSING), ce.get(field, MISSING), f"cells[{i}]{fmt_key(field)}", out)

    if out:
        out = list(dict.fromkeys(out))
        print("\n".join(out[:MAX_LINES]))
        if len(out) > MAX_LINES:
            print(f"... and {len(out) - MAX_LINES} more differences")
        return 1
    print("equivalent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
