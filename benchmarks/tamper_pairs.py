"""Tamper table: damage a copy of a pair in each way tests/fault_cases.py lists, open it as a user
would (`crossmodel-matcher info`, then `info --verify`) and print what happened.

    PYTHONPATH=src .venv/bin/python benchmarks/tamper_pairs.py              # a generated, sampled pair
    PYTHONPATH=src .venv/bin/python benchmarks/tamper_pairs.py --pair DIR   # e.g. the demo pair
    ... [--json PATH]

Copies are hard links (the tampering replaces files, never writes into them), so even the
480 MB demo pair costs little. Outcomes: `refused` (exit 2, one line), `rebuilt` (loads; the
derived cache fails its check, is rebuilt with a warning), `ACCEPTED` (loads silently: a
miss), `TRACEBACK` (an exception escaped: a crash). Targets: no ACCEPTED, no TRACEBACK
(a plausible bit flip inside a large memory-mapped file is only seen by `--verify`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crossmodel_matcher.cli import main as cli_main  # noqa: E402
from crossmodel_matcher.store.manifest import parse_manifest  # noqa: E402
from tests.fault_cases import cases, sampled_cases  # noqa: E402


def link_copy(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=os.link)


def run_info(root: Path, verify: bool) -> tuple[str, str]:
    """(outcome, message) of `crossmodel-matcher info [--verify] --pair root`, in process."""
    err, log = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger("crossmodel_matcher").addHandler(handler)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli_main(["info", "--pair", str(root), *(["--verify"] if verify else [])])
    except BaseException as exc:  # what a user would see as a traceback
        return "TRACEBACK", f"{type(exc).__name__}: {exc}"
    finally:
        logging.getLogger("crossmodel_matcher").removeHandler(handler)
    lines = [ln for ln in err.getvalue().splitlines() if ln.startswith("error: ")]
    if code == 2 and len(lines) == 1:
        return "refused", lines[0][len("error: "):].replace(str(root) + "/", "")
    if code == 0 and "fails its check" in log.getvalue():
        return "rebuilt", log.getvalue().strip().splitlines()[-1].replace(str(root) + "/", "")
    if code == 0:
        return "ACCEPTED", ""
    return "TRACEBACK", err.getvalue()[-200:]


SAMPLE = 1000
"""The generated pair keeps a sample of its aligned examples, so it also stores the moments."""


def generated_pair(folder: Path) -> Path:
    from tests.kill_helper import make_inputs

    models = make_inputs(folder / "inputs", n_examples=4000, widths=(64, 256))
    out = folder / "generated"
    args = ["build", "--quiet", "--out", str(out), "--sample-examples", str(SAMPLE)]
    args += [a for m in models for a in ("--model", m)]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli_main(args) == 0
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", type=Path, help="pair to tamper with (default: a generated 64 x 256 pair)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args()
    logging.getLogger("crossmodel_matcher").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="tamper-", dir=args.pair.parent if args.pair else None))
    rows = []
    try:
        source = args.pair.resolve() if args.pair else generated_pair(work)
        manifest = parse_manifest(source)
        sizes = {m.name: m.n_features for m in manifest.models}
        narrow, wide = sorted(sizes, key=lambda n: sizes[n])
        todo = cases(narrow, wide)
        if manifest.n_sample_examples is not None and manifest.n_sample_examples < manifest.n_aligned_examples:
            todo += sampled_cases(narrow, wide)  # the moments and the sample of a streamed build
        for case in todo:
            root = work / "case"
            link_copy(source, root)
            case.apply(root)
            t0 = time.perf_counter()
            fast = run_info(root, False)
            full = run_info(root, True)
            if fast[0] == "rebuilt" and full[0] == "ACCEPTED":
                full = ("ok", "")  # the first open rewrote the cache; the second finds it sound
            rows.append({"case": case.name, "info": fast[0], "info_verify": full[0], "message": fast[1] or full[1],
                         "seconds": round(time.perf_counter() - t0, 2)})
            shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'case':<44} {'info':<10} {'--verify':<10} message")
    for r in rows:
        print(f"{r['case']:<44} {r['info']:<10} {r['info_verify']:<10} {r['message'][:110]}")
    bad = sum(r["info_verify"] in ("ACCEPTED", "TRACEBACK") or r["info"] == "TRACEBACK" for r in rows)
    silent = sum(r["info"] == "ACCEPTED" for r in rows)
    print(f"\n{len(rows)} cases: {sum(r['info'] == 'refused' for r in rows)} refused at start, "
          f"{sum(r['info'] == 'rebuilt' for r in rows)} caches rebuilt, {silent} accepted by the start check "
          f"(seen by --verify: {sum(r['info'] == 'ACCEPTED' and r['info_verify'] == 'refused' for r in rows)}), "
          f"{sum('TRACEBACK' in (r['info'], r['info_verify']) for r in rows)} tracebacks; misses: {bad}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
