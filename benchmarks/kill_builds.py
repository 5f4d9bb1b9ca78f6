"""Kill `crossmodel-matcher build` at random moments (fresh builds and `--force` swaps) and check
what is left: at --out no pair or one complete pair (verified by re-hashing), and after the
next build no temporary or spill folder.

    PYTHONPATH=src .venv/bin/python benchmarks/kill_builds.py [--kills 20] [--seed 14] [--json PATH]

Each round starts a build in a child process, waits until it has started (imports done),
sleeps a random share of a clean build's duration and SIGKILLs it. Odd rounds replace an
existing pair (`--force`), even rounds build into an empty place.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crossmodel_matcher.store.format import PairFormatError, load_pair  # noqa: E402
from tests.kill_helper import make_inputs  # noqa: E402


def start(out: Path, models: list[str], tmpdir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "TMPDIR": str(tmpdir)}
    args = ["--quiet", "--force", "--out", str(out)] + [a for m in models for a in ("--model", m)]
    return subprocess.Popen([sys.executable, "-m", "tests.kill_helper", "none", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def litter(out: Path, tmpdir: Path) -> list[str]:
    return [p.name for p in out.parent.glob(f".{out.name}.*")] + [
        p.name for p in tmpdir.glob(".crossmodel-spill-*")
    ]


def state(out: Path) -> str:
    if not out.exists():
        return "no pair"
    try:
        load_pair(out, verify=True)
        return "complete pair"
    except PairFormatError as exc:
        return f"BROKEN: {exc}"


def timed_build(out: Path, models: list[str], tmpdir: Path) -> float:
    proc = start(out, models, tmpdir)
    proc.stdout.readline()
    t0 = time.perf_counter()
    proc.communicate(timeout=600)
    assert proc.returncode == 0
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--examples", type=int, default=20000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kills-"))
    rng = random.Random(args.seed)
    rows = []
    try:
        models = make_inputs(work / "inputs", n_examples=args.examples, widths=(256, 1024))
        tmpdir = work / "tmp"
        tmpdir.mkdir()
        out = work / "pairs" / "pair"
        duration = timed_build(out, models, tmpdir)
        for i in range(args.kills):
            force = i % 2 == 1
            if not force:
                shutil.rmtree(out, ignore_errors=True)
            elif not out.exists():
                timed_build(out, models, tmpdir)
            proc = start(out, models, tmpdir)
            proc.stdout.readline()
            delay = rng.uniform(0, duration)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            left = litter(out, tmpdir)
            st = state(out)
            ok = st == "complete pair" if force else st in ("no pair", "complete pair")
            rows.append({"kill": i + 1, "mode": "--force" if force else "fresh", "delay_s": round(delay, 2),
                         "exit": proc.returncode, "at_out": st, "left_by_kill": len(left), "ok": ok})
        timed_build(out, models, tmpdir)
        final = litter(out, tmpdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"clean build: {duration:.2f}s after start-up; kills at a uniform random moment within it\n")
    print(f"{'kill':>4} {'mode':<8} {'delay s':>7} {'exit':>5} {'left by kill':>12}  state at --out")
    for r in rows:
        print(f"{r['kill']:>4} {r['mode']:<8} {r['delay_s']:>7.2f} {r['exit']:>5} {r['left_by_kill']:>12}  {r['at_out']}")
    broken = sum(not r["ok"] for r in rows)
    print(f"\n{len(rows)} kills: {broken} left a broken or missing pair where one was required; "
          f"litter after the next build: {len(final)} {final}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "final_litter": final, "clean_build_s": duration}, indent=2))
    return 1 if broken or final else 0


if __name__ == "__main__":
    sys.exit(main())
