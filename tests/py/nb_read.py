#!/usr/bin/env python3
"""Read a notebook exported by Talkbook the way Jupyter reads it, strictly validated.

Usage: nb_read.py EXPORTED.ipynb

The file is read with the real nbformat (as nbformat 4, which joins multiline
strings and strips transient keys, as every Jupyter tool sees a notebook) and must
pass `nbformat.validate` with no error and no warning (e.g. missing or duplicate
cell ids). Prints the notebook as nbformat read it, as one line of JSON, and exits
0; prints what is wrong and exits 1 otherwise.
"""

import json
import logging
import sys
import warnings

import nbformat


def main(argv):
    if len(argv) != 2:
        print("usage: nb_read.py EXPORTED.ipynb", file=sys.stderr)
        return 2
    logging.getLogger("traitlets").setLevel(logging.CRITICAL)  # reported below instead
    with open(argv[1], encoding="utf-8") as f:
        text = f.read()
    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            nb = nbformat.reads(text, as_version=4)
            nbformat.validate(nb)
        except Exception as e:  # NotJSONError, ValidationError, ...
            problems.append(f"nbformat: {type(e).__name__}: {' '.join(str(e).split())[:600]}")
            nb = None
    problems += [f"nbformat warns: {' '.join(str(w.message).split())[:300]}" for w in caught]
    if nb is not None and (nb.nbformat, nb.nbformat_minor) != (4, 5):
        problems.append(f"exported nbformat {nb.nbformat}.{nb.nbformat_minor}, expected 4.5")
    if problems:
        print("\n".join(problems))
        return 1
    print(json.dumps(nb, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
