"""Load on the studio over loopback: many clients at once, mixing paintings, frames and dashboard JSON.

    python -m benchmarks.studio_load [RUN_DIR] [--requests 200] [--clients 20] [--seeds 12]

Starts the studio app in this process (a uvicorn thread on a free port), sends `--requests` GETs
from `--clients` threads with urllib, and prints requests, errors, latency p50/p99, the painters'
load count and peak memory (VmHWM from /proc/self/status; the process holds server and clients).
Without RUN_DIR it paints with the bundled painter only. tests/test_studio.py runs `hammer` too.
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def memory_kib(field: str = "VmRSS") -> int:
    """This process's VmRSS (now) or VmHWM (peak) in KiB, from /proc/self/status (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def mixed_paths(painter: int, seeds: int, runs: int, frame_paths: list[str]) -> list[str]:
    """A repeating mix: a painting, the dashboard JSON of each run, a frame, a walk frame."""
    mix = []
    for seed in range(seeds):
        mix.append(f"/api/paint/{painter}/{seed}.png")
        mix.extend(f"/api/runs/{r}" for r in range(runs))
        if frame_paths:
            mix.append(frame_paths[seed % len(frame_paths)])
        mix.append(f"/api/walk/{painter}/frame.png?seeds=0,1&frames=8&i={seed % 8}")
    return mix


def hammer(base_url: str, paths: list[str], requests: int = 200, clients: int = 20) -> dict:
    """GET `requests` URLs (cycling through `paths`) from `clients` threads at once.

    Returns counts, errors (non-200 or exceptions, with a few examples) and latency percentiles in ms.
    """
    urls = list(itertools.islice(itertools.cycle(paths), requests))
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients)

    def client(mine: list[str]) -> None:
        start_gate.wait()  # all clients start together
        for url in mine:
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(base_url + url, timeout=120) as response:
                    response.read()
                    ok = response.status == 200
                problem = None if ok else f"{url}: status {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                problem = f"{url}: {exc}"
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
                if problem:
                    errors.append(problem)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, [urls[i::clients] for i in range(clients)]))
    wall = time.perf_counter() - t0
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return {"requests": len(latencies), "errors": len(errors), "error_examples": errors[:3], "wall_s": wall,
            "p50_ms": pick(0.50), "p99_ms": pick(0.99)}


def main() -> None:
    from monetgan.studio.app import create_app
    from monetgan.studio.server import running_server, studio_parts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", help="a run folder (its latest checkpoint paints; its frames are served)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=12, help="distinct seeds painted (the rest come from the cache)")
    args = parser.parse_args()

    painters, runs, stylizers = studio_parts([args.run_dir] if args.run_dir else [])
    frames = []
    if runs:
        from monetgan.painting.timelapse import list_frames

        frames = [f"/runs/0/files/frames/{path.name}" for _, path in list_frames(runs[0].root)]
    painter = 1 if args.run_dir else 0
    rss_before = memory_kib()
    with running_server(create_app(painters, runs, stylizers)) as url:
        result = hammer(url, mixed_paths(painter, args.seeds, len(runs), frames), args.requests, args.clients)
    print(f"requests {result['requests']}  errors {result['errors']}  clients {args.clients}  "
          f"wall {result['wall_s']:.1f} s")
    print(f"latency p50 {result['p50_ms']:.0f} ms  p99 {result['p99_ms']:.0f} ms")
    print(f"painter loads {painters.loads}  PNG cache {painters.cache.total_bytes / 2**20:.1f} MiB")
    print(f"memory: RSS {rss_before / 1024:.0f} MiB before, {memory_kib() / 1024:.0f} MiB after, "
          f"peak {memory_kib('VmHWM') / 1024:.0f} MiB")
    for line in result["error_examples"]:
        print("error:", line)


if __name__ == "__main__":
    main()
