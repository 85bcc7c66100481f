#!/usr/bin/env python3
"""Read and write Talkbook notebook documents with Jupyter's own model
(pycrdt + jupyter_ydoc YNotebook), so Rust tests can check interoperability.
Updates are Yjs v1 update bytes in files (what yrs `encode_state_as_update_v1`
/ `encode_diff_v1` produce and `Update::decode_v1` reads).

Subcommands:

  read-update UPDATE.yjs OUT.ipynb
      Apply UPDATE to a fresh pycrdt.Doc, wrap it in YNotebook, write
      ynb.get() as ipynb text (nbformat.from_dict + nbformat.write).
      Exit 1 (after writing OUT) if nbformat.validate rejects or warns about
      it, or if jupyter_ydoc had to drop or re-id duplicate cells.

  write-update IN.ipynb OUT.yjs
      Read IN with nbformat (as_version=4: 4.x stays at its minor version),
      YNotebook(Doc()).set(nb), write the full state (doc.get_update()) to OUT.

  concurrent BASE.yjs OUT_UPDATE.yjs
      Load BASE, then through the pycrdt/YNotebook API: insert "# from python\\n"
      at index 0 of cell 0's source Y.Text, and append a markdown cell with id
      "py-cell" and source "python was here". Write only the diff since BASE
      (doc.get_update(base_state_vector)) to OUT_UPDATE.

  merge BASE.yjs MINE.yjs THEIRS.yjs OUT.ipynb
      Load BASE, apply MINE then THEIRS, write ynb.get() to OUT as read-update
      does (same checks, same exit codes).

A Rust test for concurrent edits: export BASE; run `concurrent BASE PY.yjs`;
make its own edit on a yrs doc loaded from BASE and export that diff as
MINE.yjs; run `merge BASE MINE.yjs PY.yjs OUT.ipynb` and also apply PY.yjs to
its own doc; both sides must then show the same notebook.

Exit codes: 0 ok; 1 the document is wrong (invalid notebook, update that does
not apply, unexpected layout); 2 bad arguments or unreadable input files.
Run with the project venv: .venv/bin/python tests/py/ydoc_interop.py ...
"""

import copy
import logging
import sys
import warnings

import nbformat
from jupyter_ydoc import YNotebook
from pycrdt import Doc, Text

USAGE = {
    "read-update": "UPDATE.yjs OUT.ipynb",
    "write-update": "IN.ipynb OUT.yjs",
    "concurrent": "BASE.yjs OUT_UPDATE.yjs",
    "merge": "BASE.yjs MINE.yjs THEIRS.yjs OUT.ipynb",
}


class Failure(Exception):
    """The document is wrong: exit 1."""


def die(msg, code):
    print(f"ydoc_interop: {msg}", file=sys.stderr)
    sys.exit(code)


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        die(f"cannot read {path}: {e}", 2)


def write_file(path, data):
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        die(f"cannot write {path}: {e}", 2)


def load_doc(*paths):
    """A fresh Doc with the updates in paths applied, in order."""
    updates = [read_bytes(p) for p in paths]
    doc = Doc()
    for path, update in zip(paths, updates):
        try:
            doc.apply_update(update)
        except Exception as e:
            raise Failure(f"cannot apply update {path}: {e}") from e
    return doc


def write_notebook(ynb, out):
    """Write ynb.get() to out as ipynb; raise Failure if it is not a clean notebook."""
    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nb = ynb.get()
    problems += [f"jupyter_ydoc: {w.message}" for w in caught]
    dropped = len(ynb.ycells) - len(nb["cells"])
    if dropped:
        problems.append(f"jupyter_ydoc dropped {dropped} exact duplicate cell(s) from {len(ynb.ycells)}")
    if nb["nbformat"] != 4:
        raise Failure(f"meta.nbformat is {ynb._ymeta.get('nbformat')!r}, expected 4 (jupyter_ydoc reads it as {nb['nbformat']})")
    node = nbformat.from_dict(nb)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            nbformat.validate(copy.deepcopy(node))
        except nbformat.ValidationError as e:
            problems.append(f"nbformat.validate: {' '.join(str(getattr(e, 'message', e)).split())}")
    problems += [f"nbformat.validate warns: {' '.join(str(w.message).split())}" for w in caught]
    try:
        nbformat.write(node, out)
    except OSError as e:
        die(f"cannot write {out}: {e}", 2)
    if problems:
        raise Failure("; ".join(problems))


def read_update(update, out):
    doc = load_doc(update)
    write_notebook(YNotebook(doc), out)


def write_update(inp, out):
    try:
        nb = nbformat.read(inp, as_version=4)
    except Exception as e:  # OSError, NotJSONError, conversion errors
        die(f"cannot read {inp} as a notebook: {e}", 2)
    doc = Doc()
    YNotebook(doc).set(nb)
    write_file(out, doc.get_update())


def concurrent(base, out):
    doc = load_doc(base)
    base_state = doc.get_state()
    ynb = YNotebook(doc)
    if len(ynb.ycells) == 0:
        raise Failure(f"{base} has no cells")
    source = ynb.ycells[0].get("source")
    if not isinstance(source, Text):
        raise Failure(f"cells[0].source in {base} is {type(source).__name__}, not Y.Text")
    with doc.transaction():
        source.insert(0, "# from python\n")
        ynb.append_cell({"cell_type": "markdown", "id": "py-cell", "metadata": {}, "source": "python was here"})
    write_file(out, doc.get_update(base_state))


def merge(base, mine, theirs, out):
    doc = load_doc(base, mine, theirs)
    write_notebook(YNotebook(doc), out)


def main(argv):
    cmd, args = (argv[1], argv[2:]) if len(argv) > 1 else (None, [])
    if cmd not in USAGE or len(args) != len(USAGE[cmd].split()):
        usage = "; ".join(f"{c} {a}" for c, a in USAGE.items())
        die(f"usage: ydoc_interop.py {usage}" if cmd not in USAGE else f"usage: ydoc_interop.py {cmd} {USAGE[cmd]}", 2)
    func = {"read-update": read_update, "write-update": write_update,
            "concurrent": concurrent, "merge": merge}[cmd]
    logging.getLogger("traitlets").setLevel(logging.CRITICAL)  # nbformat.write logs what we report
    try:
        func(*args)
    except Failure as e:
        die(f"{cmd}: {e}", 1)
    except Exception as e:  # pycrdt/jupyter_ydoc choking on the document
        die(f"{cmd}: {type(e).__name__}: {' '.join(str(e).split())}", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
