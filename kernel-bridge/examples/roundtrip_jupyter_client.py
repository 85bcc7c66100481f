"""Round-trip latency of `1+1` through jupyter_client, for comparison with roundtrip.rs.

Measures the same span: from sending execute_request to having both the execute_reply and
the kernel's `idle` status for it. Prints one JSON line.

    .venv/bin/python kernel-bridge/examples/roundtrip_jupyter_client.py --runs 200
(kernelspecs are found as Jupyter finds them: JUPYTER_PATH, the venv's share/jupyter, ...)
"""

import argparse
import json
import math
import tempfile
import time

from jupyter_client.manager import start_new_kernel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernel", default="python3")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cwd:
        km, kc = start_new_kernel(kernel_name=args.kernel, cwd=cwd)
        try:
            samples = []
            for i in range(args.warmup + args.runs):
                started = time.perf_counter()
                msg_id = kc.execute("1+1")
                result = None
                idle = False
                while not idle:
                    msg = kc.get_iopub_msg(timeout=30)
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    if msg["msg_type"] == "execute_result":
                        result = msg["content"]["data"]["text/plain"]
                    elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                        idle = True
                while True:
                    reply = kc.get_shell_msg(timeout=30)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
                elapsed = time.perf_counter() - started
                if result != "2":
                    raise SystemExit(f"unexpected result {result!r}")
                if i >= args.warmup:
                    samples.append(elapsed)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=False)

    samples.sort()

    def pick(q: float) -> float:
        return samples[min(max(math.ceil(len(samples) * q), 1), len(samples)) - 1]

    def ms(seconds: float) -> float:
        return round(seconds * 1000, 3)

    print(json.dumps({
        "client": "jupyter_client",
        "kernel": args.kernel,
        "runs": len(samples),
        "p50_ms": ms(pick(0.50)),
        "p99_ms": ms(pick(0.99)),
        "max_ms": ms(samples[-1]),
    }))


if __name__ == "__main__":
    main()
