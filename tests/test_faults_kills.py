"""Fault suite, kills: a build or a `--force` swap killed at any moment leaves either no pair
or one complete pair at --out, and the next build removes whatever the killed one left."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crossmodel_matcher.store.format import load_pair
from tests.kill_helper import make_inputs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill-inputs")
    return make_inputs(folder, n_examples=2000, widths=(32, 96))


def start(out: Path, models: list[str], point: str, tmpdir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "TMPDIR": str(tmpdir)}
    args = ["--quiet", "--force", "--out", str(out)] + [a for m in models for a in ("--model", m)]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.kill_helper", point, *args],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def litter(out: Path, tmpdir: Path) -> list[str]:
    near = [p.name for p in out.parent.glob(f".{out.name}.*")]
    spill = [p.name for p in tmpdir.iterdir() if p.name.startswith(".crossmodel-spill-")]
    return near + spill


def build_clean(out: Path, models: list[str], tmpdir: Path) -> None:
    proc = start(out, models, "none", tmpdir)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


@pytest.fixture
def places(tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    return tmp_path / "pairs" / "pair", tmpdir


@pytest.mark.parametrize(
    ("point", "existing"),
    [
        ("mid-spill", False),
        ("mid-spill", True),
        ("before-swap", True),
        ("after-swap", True),
        ("between-renames", True),
    ],
)
def test_kill_at_each_critical_moment(world, places, point, existing):
    out, tmpdir = places
    if existing:
        build_clean(out, world, tmpdir)
        before = (out / "pair.json").read_bytes()
    proc = start(out, world, point, tmpdir)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    if existing:
        pair = load_pair(out, verify=True)  # one complete pair: the old one or the new one
        assert pair.models[1].n_features == 96
        if point in ("mid-spill", "before-swap", "between-renames"):
            assert (out / "pair.json").read_bytes() == before
    else:
        assert not out.exists()
    assert litter(out, tmpdir) != [] or point == "between-renames"  # the kill did leave something
    build_clean(out, world, tmpdir)
    assert litter(out, tmpdir) == []
    load_pair(out, verify=True)


def test_random_kills_never_leave_a_broken_pair_or_litter(world, places):
    out, tmpdir = places
    build_clean(out, world, tmpdir)
    rng = random.Random(14)
    for _ in range(4):
        proc = start(out, world, "none", tmpdir)
        assert proc.stdout.readline().strip() == "started"
        time.sleep(rng.uniform(0.0, 0.4))
        proc.kill()
        proc.communicate(timeout=60)
        load_pair(out, verify=True)
    build_clean(out, world, tmpdir)
    assert litter(out, tmpdir) == []


def test_live_writers_folders_are_left_alone(places):
    from crossmodel_matcher.store.cleanup import remove_stale

    out, tmpdir = places
    out.parent.mkdir(parents=True)
    mine = out.parent / f".{out.name}.tmp-{os.getpid()}-abc"
    dead = out.parent / f".{out.name}.tmp-999999999-abc"
    spill = tmpdir / ".crossmodel-spill-999999999-xyz"
    for p in (mine, dead, spill):
        p.mkdir()
    removed = remove_stale(out, tmpdir)
    assert sorted(removed) == sorted([str(dead), str(spill)])
    assert mine.is_dir()
