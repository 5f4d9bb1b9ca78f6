"""Figures: render time and PNG size per kind, on the demo pair's reports.

The reports are computed once; each figure is then drawn --repeats times from the same report
(wall and CPU time, medians). Targets (issue 13): <= 300 ms and <= 60 KB per figure.

    python benchmarks/bench_figures.py --repeats 15 --json out.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

from crossmodel_matcher.demo import ensure_demo_pair
from crossmodel_matcher.figures import containment_plane, decomposition_bars, pair_overview
from crossmodel_matcher.figures.kinds import CONTAINMENT_TOP_N
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.pair_source import open_pair

TARGET_MS = 300.0
TARGET_KB = 60.0


def cases(m: Matcher) -> list[tuple[str, object, object]]:
    """(name, figure function, report) for each figure kind on representative features."""
    return [
        (f"containment full 7 (top {CONTAINMENT_TOP_N})", containment_plane, m.find_matches("full", 7, CONTAINMENT_TOP_N)),
        (f"containment ultra 8313 (top {CONTAINMENT_TOP_N})", containment_plane, m.find_matches("ultra", 8313, CONTAINMENT_TOP_N)),
        ("decomposition full 7 (split)", decomposition_bars, m.find_decomposition("full", 7)),
        ("decomposition full 10 (polysemantic)", decomposition_bars, m.find_decomposition("full", 10)),
        ("decomposition ultra 8313 (parents)", decomposition_bars, m.find_decomposition("ultra", 8313)),
        ("overview (pair_alignment)", pair_overview, m.alignment_summary()),
    ]


def measure(draw, report, repeats: int) -> dict:
    draw(report)  # fonts and caches warm, as in a running server
    walls, cpus, digests, size = [], [], set(), 0
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        image = draw(report)
        walls.append((time.perf_counter() - w) * 1000)
        cpus.append((time.process_time() - c) * 1000)
        digests.add(hashlib.sha256(image.png).hexdigest())
        size = len(image.png)
    return {
        "wall_ms_p50": statistics.median(walls),
        "cpu_ms_p50": statistics.median(cpus),
        "png_kb": size / 1000,
        "pixels": f"{image.width}x{image.height}",
        "deterministic": len(digests) == 1,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    m = open_pair(ensure_demo_pair())
    results = {name: measure(draw, report, args.repeats) for name, draw, report in cases(m)}
    print(f"{'figure':<40} {'wall p50':>9} {'cpu p50':>8} {'PNG':>8} {'pixels':>8} {'same bytes':>10}")
    for name, r in results.items():
        print(
            f"{name:<40} {r['wall_ms_p50']:>6.0f} ms {r['cpu_ms_p50']:>5.0f} ms {r['png_kb']:>5.1f} KB "
            f"{r['pixels']:>8} {'yes' if r['deterministic'] else 'NO':>10}"
        )
    print(f"targets: <= {TARGET_MS:.0f} ms, <= {TARGET_KB:.0f} KB per figure")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
