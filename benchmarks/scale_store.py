"""A synthetic SplatNLP efficient store at real density, for `bench_scale.py`.

Layout as SplatNLP writes it (see docs and shared/reference/splatnlp-formats.md): per model
`activations/batch_{i:04d}.zarr` (dense float32 [samples, F], zarr v3, Zstd),
`metadata/batch_{i:04d}.parquet` (ability_tokens list[int], weapon_id_token, ...) and
`conversion_metadata.json`; `vocab.json` and `weapon_vocab.json` beside the two models.

Examples are random builds (ability tokens + one weapon). "full" (2,048 features) fires ~190
features per example; "ultra" (24,576) ~2,200, each ultra feature tied to a full "parent"
(it fires more often, and stronger, where its parent fires), so the pair has real structure.
full holds the examples in a different order (chunks shuffled, rows shuffled in a chunk)
and drops 1% of them, so alignment is by key, never by row. Every chunk is generated from
its own seed, so a store is reproducible and written in one streaming pass per model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

N_FULL, N_ULTRA = 2048, 24576
FULL_ACTIVE, ULTRA_ACTIVE = 190, 2200
CHUNK = 1024  # rows per generated chunk and per zarr chunk
N_BATCHES = 6
FAMILIES = [
    "ink_recovery_up", "ink_resistance_up", "ink_saver_main", "ink_saver_sub", "intensify_action",
    "quick_respawn", "quick_super_jump", "run_speed_up", "special_charge_up", "special_power_up",
    "special_saver", "sub_power_up", "sub_resistance_up", "swim_speed_up",
]
MAINS = [
    "comeback", "last_ditch_effort", "opening_gambit", "tenacity", "ability_doubler", "haunt",
    "ninja_squid", "respawn_punisher", "thermal_ink", "drop_roller", "object_shredder", "stealth_jump",
]
RUNGS = [3, 6, 12, 15, 21, 29, 38, 51, 57]
N_WEAPONS = 130
DONE = ".complete"


def vocabularies() -> tuple[dict[str, int], dict[str, int]]:
    tokens = ["<MASK>", "<PAD>", "<NULL>"] + MAINS + [f"{f}_{r}" for f in FAMILIES for r in RUNGS]
    weapons = [f"weapon_id_{1000 + 10 * i}" for i in range(N_WEAPONS)]
    return {t: i for i, t in enumerate(tokens)}, {w: i for i, w in enumerate(weapons)}


def _chunk_rng(seed: int, c: int) -> np.random.Generator:
    return np.random.default_rng([seed, c])


def _feature_probs(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 10**9])
    p_full = rng.lognormal(0.0, 0.8, N_FULL)
    p_full = np.clip(p_full / p_full.mean() * FULL_ACTIVE / N_FULL, 1e-4, 0.9).astype(np.float32)
    parent = rng.integers(0, N_FULL, N_ULTRA)
    # P(ultra fires) = base + lift * [parent fires]; on average ULTRA_ACTIVE per example.
    share = (ULTRA_ACTIVE / N_ULTRA) * 0.5 * 1.07  # 1.07: makes up for the clipped lifts
    lift = np.clip(share / np.maximum(p_full[parent], 1e-3), 0.0, 0.9).astype(np.float32)
    base = np.full(N_ULTRA, share, dtype=np.float32)
    return p_full, parent, np.stack([base, lift])


def _chunk(seed: int, c: int, n_rows: int, probs) -> dict:
    """Tokens and both models' dense activations of canonical chunk c."""
    p_full, parent, (base, lift) = probs
    rng = _chunk_rng(seed, c)
    n_abil = rng.integers(8, 20, n_rows)
    n_tok = len(MAINS) + len(FAMILIES) * len(RUNGS)
    ability = [np.sort(rng.choice(n_tok, k, replace=False) + 3) for k in n_abil]
    weapon = rng.integers(0, N_WEAPONS, n_rows)
    fmask = rng.random((n_rows, N_FULL), dtype=np.float32) < p_full
    full = np.zeros((n_rows, N_FULL), dtype=np.float32)
    full[fmask] = np.minimum(rng.exponential(0.8, int(fmask.sum())), 6.0).astype(np.float32) + 1e-3
    return {"ability": ability, "weapon": weapon, "full": full, "rng": rng, "p": (parent, base, lift)}


def _keep_perm(seed: int, c: int, n_rows: int) -> np.ndarray:
    """Rows of chunk c that full holds (it drops 1%), in full's (shuffled) order."""
    rng = np.random.default_rng([seed, c, 1])
    perm = rng.permutation(n_rows)
    keep = rng.random(n_rows) >= 0.01
    return perm[keep[perm]]


def _ultra(ch: dict) -> np.ndarray:
    parent, base, lift = ch["p"]
    rng, full = ch["rng"], ch["full"]
    par = full[:, parent]  # [rows, N_ULTRA]
    umask = rng.random(par.shape, dtype=np.float32) < base + lift * (par > 0)
    out = np.zeros(par.shape, dtype=np.float32)
    vals = rng.exponential(0.6, int(umask.sum())).astype(np.float32) + 0.5 * par[umask] + 1e-3
    out[umask] = np.minimum(vals, 6.0)
    return out


class _BatchWriter:
    """Rows appended in order into zarr batches of fixed sizes, plus their metadata parquet."""

    def __init__(self, folder: Path, sizes: list[int], n_features: int, reuse: bool = False):
        import zarr

        self.folder, self.sizes, self.f, self.reuse = folder, sizes, n_features, reuse
        self.skip_first = reuse and (folder / "metadata" / "batch_0000.parquet").is_file()
        (folder / "activations").mkdir(parents=True, exist_ok=True)
        (folder / "metadata").mkdir(parents=True, exist_ok=True)
        self.zarr = zarr
        self.b, self.row, self.buf, self.meta = -1, 0, [], []
        self._next()

    @property
    def needs_rows(self) -> bool:
        """False where activations are not written: batches after the first in reuse mode."""
        return not self.reuse or (self.b == 0 and not self.skip_first)

    def _next(self) -> None:
        if self.reuse and self.b >= 1:
            self._link_chunks()
        self.b += 1
        self.row = 0
        if self.b == 0 and self.skip_first:
            return
        if self.b < len(self.sizes):
            self.arr = self.zarr.create_array(
                store=str(self.folder / "activations" / f"batch_{self.b:04d}.zarr"),
                shape=(self.sizes[self.b], self.f), chunks=(CHUNK, self.f), dtype="float32",
                compressors=[self.zarr.codecs.ZstdCodec(level=1)], overwrite=True,
            )

    def add(self, rows: np.ndarray, ability: list, weapon: np.ndarray) -> None:
        i = 0
        while i < len(ability):
            take = min(len(ability) - i, self.sizes[self.b] - self.row)
            if self.needs_rows:
                self.arr[self.row : self.row + take] = rows[i : i + take]
            if not (self.b == 0 and self.skip_first):
                self.meta.append((ability[i : i + take], weapon[i : i + take]))
            self.row += take
            i += take
            if self.row == self.sizes[self.b]:
                self._flush_meta()
                self._next()

    def _link_chunks(self) -> None:
        """This batch's chunks as links to the first batch's full chunks (same bytes to read)."""
        first = self.folder / "activations" / "batch_0000.zarr" / "c"
        n_src = max(1, len(list(first.iterdir())) - 1)  # the first batch's chunks but its last
        here = self.folder / "activations" / f"batch_{self.b:04d}.zarr" / "c"
        for i in range((self.sizes[self.b] + CHUNK - 1) // CHUNK):
            (here / str(i)).mkdir(parents=True, exist_ok=True)
            (here / str(i) / "0").symlink_to(first / str(i % n_src) / "0")

    def _flush_meta(self) -> None:
        if self.b == 0 and self.skip_first:
            return
        ability = [a for part in self.meta for a in part[0]]
        weapon = np.concatenate([part[1] for part in self.meta])
        n = len(weapon)
        pq.write_table(pa.table({
            "batch_id": np.full(n, self.b, dtype=np.int64),
            "sample_id": np.arange(n, dtype=np.int64),
            "ability_tokens": pa.array([a.tolist() for a in ability], type=pa.list_(pa.int64())),
            "weapon_id_token": weapon.astype(np.int64),
            "is_null_token": np.zeros(n, dtype=bool),
            "weapon_name": [f"weapon_{w}" for w in weapon],
            "global_index": np.arange(n, dtype=np.int64),
        }), self.folder / "metadata" / f"batch_{self.b:04d}.parquet")
        self.meta = []


def _sizes(n: int) -> list[int]:
    bounds = np.linspace(0, n, N_BATCHES + 1).astype(int)
    return [int(b) for b in np.diff(bounds) if b > 0]


def write_store(root: Path, n_examples: int, seed: int = 0, say=print, reuse_chunks: bool = False) -> Path:
    """Write (once) the two models' efficient stores under root; returns root.

    `reuse_chunks`: ultra's batches after the first link to the first batch's compressed
    chunks instead of holding new random draws (the same density and bytes to read and
    decompress, written in minutes instead of hours on 2 cores); tokens and keys stay genuine,
    but ultra's activations past the first batch no longer relate to full's.
    """
    root = Path(root)
    if (root / DONE).is_file():
        return root
    root.mkdir(parents=True, exist_ok=True)
    vocab, weapons = vocabularies()
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "weapon_vocab.json").write_text(json.dumps(weapons))
    probs = _feature_probs(seed)
    n_chunks = (n_examples + CHUNK - 1) // CHUNK
    rows_of = [min(CHUNK, n_examples - c * CHUNK) for c in range(n_chunks)]
    order = np.random.default_rng([seed, 7]).permutation(n_chunks)  # full's chunk order
    total_full = sum(int(_keep_perm(seed, c, rows_of[c]).size) for c in range(n_chunks))
    if not (root / "full" / DONE).is_file():
        full_w = _BatchWriter(root / "full", _sizes(total_full), N_FULL)
        for c in order:
            ch = _chunk(seed, int(c), rows_of[int(c)], probs)
            idx = _keep_perm(seed, int(c), rows_of[int(c)])
            full_w.add(ch["full"][idx], [ch["ability"][j] for j in idx], ch["weapon"][idx])
        (root / "full" / DONE).write_text("")
    say(f"store: full written ({total_full:,} examples)")
    ultra_w = _BatchWriter(root / "ultra", _sizes(n_examples), N_ULTRA, reuse=reuse_chunks)
    for c in range(n_chunks):
        ch = _chunk(seed, c, rows_of[c], probs)
        ultra_w.add(_ultra(ch) if ultra_w.needs_rows else None, ch["ability"], ch["weapon"])
        if c % 100 == 0:
            say(f"store: ultra {min(n_examples, (c + 1) * CHUNK):,}/{n_examples:,}")
    for name, n in (("full", total_full), ("ultra", n_examples)):
        (root / name / "conversion_metadata.json").write_text(
            json.dumps({"n_batches": len(_sizes(n)), "total_samples": n})
        )
    (root / DONE).write_text(json.dumps({"examples": n_examples, "seed": seed, "reuse_chunks": reuse_chunks}))
    return root
