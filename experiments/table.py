"""Print the markdown table of docs/experiments.md from the folders `evaluate_rows.sh` leaves.

    python experiments/table.py TAR_DIR NAME [NAME ...]

Each NAME folder holds the run's log.jsonl, config.json, card (NAME.json) and eval.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def last_log_line(path: Path) -> dict:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def row(folder: Path) -> str:
    name = folder.name
    card = json.loads((folder / f"{name}.json").read_text())
    result = json.loads((folder / "eval.json").read_text())["results"][0]
    # an EMA twin (NAME-ema) is packed without the log of the run it came from: its card has the same figures
    log = last_log_line(folder / "log.jsonl") if (folder / "log.jsonl").exists() else {}
    mem = result["memorization"]
    steps, seconds = log.get("step", card["step"]), log.get("wall_time", card["wall_time_seconds"])
    return (f"| `{name}` | {card['weights'].replace('generator_ema', 'EMA').replace('generator', 'raw')} | {steps:,} | "
            f"{steps / seconds:.2f} | {result['fid']:.1f} | {result['kid']:.3f} ± {result['kid_std']:.3f} | "
            f"{result['mifid']:.1f} | {result['swd']:.1f} | {mem['fraction_cosine_below_0.1']:.3f} | "
            f"{mem['cosine_min']:.3f} | {result['diversity']['fake_ms_ssim']:.3f} |")


def main() -> None:
    root, names = Path(sys.argv[1]), sys.argv[2:]
    floor = json.loads((root / names[0] / "eval.json").read_text())["real_floor"]
    print(f"Real-vs-real floor (150 vs 150 of the paintings, 64 px): FID {floor['fid']:.1f}, "
          f"KID {floor['kid']:.4f}, SWD {floor['swd']:.1f}\n")
    print("| run | weights | steps | steps/s | FID | KID | MiFID | SWD | mem. frac. (cos < 0.1) | min cos dist. | MS-SSIM |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        if (root / name / "eval.json").exists():
            print(row(root / name))
        else:
            print(f"| `{name}` | not evaluated | | | | | | | | | |")


if __name__ == "__main__":
    main()
