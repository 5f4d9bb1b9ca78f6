"""The demo pair's planted truth: the record of each feature's role, written as truth.json."""

from __future__ import annotations

import json
from pathlib import Path

from crossmodel_matcher.demo.builds import DEMO_VERSION, N_FULL, N_ULTRA
from crossmodel_matcher.demo_paths import TRUTH_FILE


def dead_record() -> dict:
    """The truth record of a narrow feature that never fires."""
    return {"role": "dead", "counterparts": [], "groups": [], "concept": None}


def truth_document(seed: int, n_builds: int, full_truth: list[dict], ultra_truth: list[dict]) -> dict:
    """truth.json: per narrow feature its role, counterparts and groups; per wide its parents."""
    return {
        "description": "Planted ground truth of the demo pair; see README 'Demo data'.",
        "seed": seed,
        "demo_version": DEMO_VERSION,
        "n_builds": n_builds,
        "models": {"full": N_FULL, "ultra": N_ULTRA},
        "full": [{"feature": i, **t} for i, t in enumerate(full_truth)],
        "ultra": [{"feature": i, **t} for i, t in enumerate(ultra_truth)],
    }


def write_truth(pair_dir: Path, truth: dict) -> None:
    """Write truth.json beside the pair atomically."""
    tmp = pair_dir / f".{TRUTH_FILE}.tmp"
    tmp.write_text(json.dumps(truth))
    tmp.replace(pair_dir / TRUTH_FILE)


def load_truth(pair_dir: str | Path) -> dict:
    return json.loads((Path(pair_dir) / TRUTH_FILE).read_text())
