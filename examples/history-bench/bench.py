#!/usr/bin/env python3
"""History benchmark (issue 7): how fast the history API answers on a notebook with a long
log, e.g. the 100,000-edit notebook `loadgen bigdoc --phase fill` writes. Prints one JSON
line on stdout, progress on stderr. Standard library only.

    python3 examples/history-bench/bench.py --url http://127.0.0.1:8080 --token TOKEN \
        --notebook ID [--samples 20]

Measures, each from request to the whole answer read:
- `first_index_ms`: the first history request, which indexes whatever the server has not
  indexed yet (the whole log for a notebook filled while nothing asked for its history;
  normally the server indexes in the background after each checkpoint);
- `timeline_page_ms`: `GET …/history?limit=100` at random cursors (p50 / p99 / max);
- `time_travel_ms`: `GET …/ipynb?seq=N` at random points of the log (p50 / p99 / max);
- `time_travel_at_ms`: `GET …/ipynb?at=TIME` at the end times of random events;
- `blame_ms`: blame of the notebook's largest cell, now (p50 / max).
"""

import argparse
import json
import random
import sys
import time
import urllib.parse
import urllib.request


def log(*parts):
    print("[history-bench]", *parts, file=sys.stderr, flush=True)


def get(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request) as reply:
        body = reply.read()
        headers = dict(reply.headers)
    return (time.perf_counter() - started) * 1000.0, body, headers


def summary(values):
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return {"p50": round(pick(0.5), 2), "p99": round(pick(0.99), 2), "max": round(values[-1], 2), "n": len(values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="the server's HTTP base URL")
    parser.add_argument("--token", required=True)
    parser.add_argument("--notebook", required=True, type=int)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = f"{args.url.rstrip('/')}/api/notebooks/{args.notebook}"

    log("first history request (indexes what is not indexed yet) …")
    first_ms, body, _ = get(f"{base}/history?limit=100", args.token)
    first = json.loads(body)
    last_seq = first["indexed_seq"]
    log(f"indexed up to seq {last_seq} in {first_ms:.0f} ms")

    # Cursors spread over the whole timeline: walk it once with big pages.
    cursors, after, events, times = [None], None, 0, []
    while True:
        query = f"?limit=1000" + (f"&after={after}" if after else "")
        _, body, _ = get(f"{base}/history{query}", args.token)
        page = json.loads(body)
        events += len(page["events"])
        cursors.extend(e["id"] for e in page["events"][::50])
        times.extend(e["last_at"] for e in page["events"])
        after = page["next"]
        if not after:
            break
    log(f"{events} events in the timeline")

    pages = []
    for _ in range(args.samples):
        cursor = rng.choice(cursors)
        ms, _, _ = get(f"{base}/history?limit=100" + (f"&after={cursor}" if cursor else ""), args.token)
        pages.append(ms)

    travel = []
    for _ in range(args.samples):
        seq = rng.randint(1, last_seq)
        ms, _, headers = get(f"{base}/ipynb?seq={seq}", args.token)
        assert int(headers.get("x-talkbook-seq") or headers.get("X-Talkbook-Seq")) == seq
        travel.append(ms)

    travel_at = []
    for _ in range(args.samples):
        at = urllib.parse.quote(rng.choice(times))
        ms, _, _ = get(f"{base}/ipynb?at={at}", args.token)
        travel_at.append(ms)

    _, body, _ = get(f"{base}/ipynb", args.token)
    cells = json.loads(body)["cells"]
    biggest = max(cells, key=lambda c: len("".join(c["source"])), default=None)
    blame = []
    if biggest is not None:
        for _ in range(max(3, args.samples // 4)):
            ms, _, _ = get(f"{base}/cells/{biggest['id']}/blame", args.token)
            blame.append(ms)

    print(json.dumps({
        "scenario": "history",
        "log_updates": last_seq,
        "events": events,
        "cells": len(cells),
        "first_index_ms": round(first_ms, 1),
        "timeline_page_ms": summary(pages),
        "time_travel_ms": summary(travel),
        "time_travel_at_ms": summary(travel_at),
        "blame_ms": summary(blame) if blame else None,
    }))


if __name__ == "__main__":
    main()
