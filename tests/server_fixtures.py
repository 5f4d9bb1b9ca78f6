"""A small model pair for the server tests, built through the core's own ingestion path.

"full" has 8 features and "ultra" 24 over a 34-token vocabulary and 200 examples; it builds
in well under a second, so the protocol tests never need the full-size demo pair. Planted
relations (used by the tests to pick features): full 0..3 each split into two ultra
children, full 4 has one one-to-one partner, full 5 is unique, full 6 is dead, full 7 fires
on the union of two unrelated token groups, each with its own ultra feature (polysemantic).

Test modules load it with `pytest_plugins = ["tests.server_fixtures"]` and import its helpers;
it holds no asserts (PYTEST_DONT_REWRITE: imported before pytest could rewrite it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.pair_source import build_pair, open_pair
from crossmodel_matcher.store.derive import TokenRows
from crossmodel_matcher.store.sources import ModelSource

N_EXAMPLES = 200
N_FULL = 8
N_ULTRA = 24
SPECIALS = ["<PAD>", "<NULL>"]
N_GROUPS = 8  # token groups g0..g7, four tokens each
VOCAB = SPECIALS + [f"g{g}_t{i}" for g in range(N_GROUPS) for i in range(4)]


def _group_tokens(g: int) -> list[int]:
    return [len(SPECIALS) + 4 * g + i for i in range(4)]


def small_sources(seed: int = 7) -> tuple[list[str], ModelSource, ModelSource]:
    """Vocab and two sources whose features fire on planted token groups."""
    rng = np.random.default_rng(seed)
    group = rng.integers(N_GROUPS, size=N_EXAMPLES)  # each example belongs to one group
    latent = rng.random(N_EXAMPLES) < 0.5  # a hidden bit that splits a group's examples
    rows = []
    for g in group:
        toks = set(rng.choice(_group_tokens(int(g)), size=2, replace=False).tolist())
        toks.add(int(rng.integers(len(SPECIALS), len(VOCAB))))  # one stray token
        rows.append(sorted(int(t) for t in toks))
    tokens = TokenRows.from_lists(rows)
    size = rng.uniform(1.0, 2.0, size=N_EXAMPLES)  # one magnitude per example, shared

    full = np.zeros((N_EXAMPLES, N_FULL), dtype=np.float32)
    ultra = np.zeros((N_EXAMPLES, N_ULTRA), dtype=np.float32)

    def fire(acts: np.ndarray, col: int, mask: np.ndarray) -> None:
        acts[mask, col] = size[mask] * rng.uniform(0.9, 1.1, size=int(mask.sum()))

    u = 0
    for f in range(4):  # splits: the group fires the parent, each half by the hidden bit a child
        fire(full, f, group == f)
        for half in (latent, ~latent):
            fire(ultra, u, (group == f) & half)
            u += 1
    fire(full, 4, group == 4)  # one-to-one
    fire(ultra, u, group == 4)
    u += 1
    fire(full, 5, group == 5)  # unique to full; full 6 stays dead
    fire(full, 7, (group == 6) | (group == 7))  # polysemantic: one ultra feature per group
    for g in (6, 7):
        fire(ultra, u, group == g)
        u += 1
    while u < N_ULTRA:  # the rest: sparse noise features unique to ultra
        fire(ultra, u, rng.random(N_EXAMPLES) < 0.05)
        u += 1
    keys = np.array([f"ex{i:04d}" for i in range(N_EXAMPLES)])
    sources = []
    for name, acts in (("full", full), ("ultra", ultra)):
        sources.append(
            ModelSource(
                name=name,
                n_features=acts.shape[1],
                example_keys=keys,
                example_tokens=tokens,
                activations=sp.csr_matrix(acts),
                labels={0: "group 0"} if name == "full" else {},
                origin="tests/server_fixtures.py",
            )
        )
    return VOCAB, sources[0], sources[1]


def write_small_pair(out_dir: Path) -> Path:
    """Build the small pair into `out_dir` and return it."""
    vocab, full, ultra = small_sources()
    return build_pair(vocab, full, ultra, out_dir, description="small test pair", progress=False)


@pytest.fixture(scope="session")
def small_pair_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_pair(tmp_path_factory.mktemp("pair") / "small-pair")


@pytest.fixture(scope="session")
def small_matcher(small_pair_dir: Path) -> Matcher:
    return open_pair(small_pair_dir)


# ---- helpers shared by the server tests ------------------------------------------------------
@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def without_timing(value: Any) -> Any:
    """A report's JSON without its `elapsed_ms` fields, for comparing two runs."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k != "elapsed_ms"}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(*args: str) -> list[str]:
    """The server as a real subprocess: `python -m crossmodel_matcher serve ...`."""
    return [sys.executable, "-m", "crossmodel_matcher", "serve", *args]


@contextmanager
def http_server(pair_dir: Path, token: str | None = None, timeout: float = 60.0) -> Iterator[str]:
    """Run `serve --transport http` on a free 127.0.0.1 port; yields the /mcp URL."""
    port = free_port()
    env = dict(os.environ)
    env.pop("CROSSMODEL_MATCHER_TOKEN", None)
    if token:
        env["CROSSMODEL_MATCHER_TOKEN"] = token
    proc = subprocess.Popen(
        serve_command("--pair", str(pair_dir), "--transport", "http", "--port", str(port)),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"server did not listen on port {port} within {timeout} s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
