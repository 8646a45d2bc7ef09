"""The equal-CPU-budget table of docs/experiments.md, from each row's eval-1000.json.

    python experiments/rows_table.py NAME=RUN_DIR[:EVAL_JSON] ...

Each row: its last checkpoint's steps and process CPU-minutes (from state.json) and the metrics
`monetgan evaluate` wrote (FID, KID, SWD at 256 px; the fraction of paintings whose nearest painting
lies within cosine distance 0.1; pairwise MS-SSIM against the paintings' own).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(name: str, run: Path, report_path: Path) -> str:
    report = json.loads(report_path.read_text())
    r = report["results"][0]
    state = json.loads((run / "checkpoints" / r["name"] / "state.json").read_text())
    d, m = r["diversity"], r["memorization"]
    return (f"| {name} | {state['cpu_time'] / 60:.1f} | {state['step']:,} | {r['fid']:.1f} | {r['kid']:.3f} | "
            f"{r['swd']:.1f} | {m['fraction_cosine_below_0.1']:.3f} | {d['fake_ms_ssim']:.3f} "
            f"({d['fake_ms_ssim'] / d['real_ms_ssim']:.2f}x) |")


def main() -> None:
    print("| row | CPU-min | steps | FID | KID | SWD | near-copies (cos < 0.1) | MS-SSIM (x the paintings') |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for item in sys.argv[1:]:
        name, _, where = item.partition("=")
        run, _, report = where.partition(":")
        print(row(name, Path(run), Path(report) if report else Path(run) / "eval-1000.json"))


if __name__ == "__main__":
    main()
