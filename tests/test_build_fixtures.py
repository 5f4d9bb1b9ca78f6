"""Writers of small inputs in every format `crossmodel-matcher build` reads, for the build tests.

One seeded world of builds (ability tokens + one weapon) with planted features: narrow
"full" feature f fires on builds holding ability `a{f}`; wide "ultra" features 2f and 2f+1
split it by weapon parity (children); the last ultra features fire on weapon tokens only.
Each model sees its own subset of builds in its own row order, so examples must be aligned
by key. Activation rows are the same numbers whatever format they are written in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from crossmodel_matcher.store.derive import TokenRows, top_examples_from_activations

N_ABILITIES = 12
N_WEAPONS = 4
N_FULL = 8
N_ULTRA = 2 * N_FULL + N_WEAPONS
VOCAB = ["<PAD>", "<NULL>"] + [f"a{i}" for i in range(N_ABILITIES)]
WEAPONS = [f"weapon_id_{100 * w}" for w in range(N_WEAPONS)]
SHARED_VOCAB = VOCAB + WEAPONS


@dataclass
class ModelData:
    """One model's rows: ability ids (vocab ids), weapon ids (weapon-vocab ids), activations."""

    name: str
    ability: list[list[int]]
    weapon: np.ndarray
    dense: np.ndarray  # float32 [n, F]

    @property
    def csr(self) -> sp.csr_matrix:
        return sp.csr_matrix(self.dense)

    def token_strings(self) -> list[list[str]]:
        return [[VOCAB[i] for i in ab] + [WEAPONS[w]] for ab, w in zip(self.ability, self.weapon)]

    def token_rows(self) -> TokenRows:
        """Tokens as ids of SHARED_VOCAB (abilities, then weapon), as the build maps them."""
        return TokenRows.from_lists([ab + [len(VOCAB) + int(w)] for ab, w in zip(self.ability, self.weapon)])


def make_world(seed: int = 7, n_builds: int = 300) -> tuple[ModelData, ModelData]:
    rng = np.random.default_rng(seed)
    seen, builds = set(), []
    while len(builds) < n_builds:
        k = int(rng.integers(2, 5))
        ab = tuple(sorted(int(x) + 2 for x in rng.choice(N_ABILITIES, size=k, replace=False)))
        w = int(rng.integers(N_WEAPONS))
        if (ab, w) not in seen:
            seen.add((ab, w))
            builds.append((ab, w))
    out = []
    for name, n_feat, drop in (("full", N_FULL, 20), ("ultra", N_ULTRA, 30)):
        keep = rng.permutation(n_builds)[: n_builds - drop]
        ability = [list(builds[i][0]) for i in keep]
        weapon = np.array([builds[i][1] for i in keep])
        dense = np.zeros((len(keep), n_feat), dtype=np.float32)
        for r, (ab, w) in enumerate(zip(ability, weapon)):
            for f in range(N_FULL):
                if f + 2 in ab:
                    col = f if name == "full" else 2 * f + (w % 2)
                    dense[r, col] = 1.0 + (r * 7 + f) % 5 * 0.25
            if name == "ultra":
                dense[r, 2 * N_FULL + w] = 0.5 + (r % 3) * 0.1
        out.append(ModelData(name, ability, weapon, dense))
    return out[0], out[1]


# ---- writers ------------------------------------------------------------------------------
def write_vocabs(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
    (folder / "weapon_vocab.json").write_text(json.dumps({t: i for i, t in enumerate(WEAPONS)}))
    return folder / "vocab.json", folder / "weapon_vocab.json"


def top_rows(m: ModelData) -> list[tuple[int, float, int]]:
    """(feature, activation, example row) of the top examples, as the build derives them."""
    out = []
    for f in range(m.dense.shape[1]):
        col = m.dense[:, f]
        order = np.lexsort((np.arange(len(col)), -col))
        out += [(f, float(col[r]), int(r)) for r in order[:100] if col[r] > 0]
    top = top_examples_from_activations(m.csr, m.token_rows())
    assert [(f, a) for f, a, _ in out] == list(zip(top.feature_id.tolist(), top.activation.tolist()))
    return out


def write_top_table(path: Path, m: ModelData, fmt: str, as_ids: bool = False) -> Path:
    strings = m.token_strings()
    rows = top_rows(m)
    tokens = [[SHARED_VOCAB.index(t) for t in strings[r]] if as_ids else strings[r] for _, _, r in rows]
    cols = {
        "feature_id": [f for f, _, _ in rows],
        "activation": [a for _, a, _ in rows],
        "tokens": tokens,
        "example_key": [f"{m.name}-{r}" for _, _, r in rows],
    }
    if fmt == "parquet":
        pq.write_table(pa.table(cols), path)
    elif fmt == "csv":
        lines = ["feature_id,activation,tokens,example_key"]
        for f, a, t, k in zip(*cols.values()):
            lines.append(f'{f},{a!r},"{json.dumps(t).replace(chr(34), chr(34) * 2)}",{k}')
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text("".join(json.dumps(dict(zip(cols, vals))) + "\n" for vals in zip(*cols.values())))
    return path


def write_npz(path: Path, m: ModelData) -> Path:
    csr = m.csr
    np.savez(path, indptr=csr.indptr, indices=csr.indices, data=csr.data, shape=np.array(csr.shape))
    return path


def write_tokens_jsonl(path: Path, m: ModelData, keys: list[str] | None = None) -> Path:
    lines = []
    for i, toks in enumerate(m.token_strings()):
        row = {"tokens": toks}
        if keys is not None:
            row["example_key"] = keys[i]
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_splatnlp_top(folder: Path, m: ModelData) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = top_rows(m)
    pq.write_table(
        pa.table(
            {
                "feature_id": [f for f, _, _ in rows],
                "activation": [a for _, a, _ in rows],
                "batch_id": [0] * len(rows),
                "sample_id": [r for _, _, r in rows],
                "global_index": [r for _, _, r in rows],
                "ability_tokens_json": [json.dumps(m.ability[r]) for _, _, r in rows],
                "weapon_id": [int(m.weapon[r]) for _, _, r in rows],
                "is_null": [False] * len(rows),
            }
        ),
        folder / "all_examples.parquet",
    )
    fids = np.array([f for f, _, _ in rows])
    feats = np.unique(fids)
    starts = np.searchsorted(fids, feats, side="left")
    ends = np.searchsorted(fids, feats, side="right")
    pq.write_table(
        pa.table({"feature_id": feats, "start_idx": starts, "end_idx": ends, "n_examples": ends - starts}),
        folder / "feature_index.parquet",
    )
    return folder


def write_splatnlp_efficient(folder: Path, m: ModelData, n_batches: int = 2, chunk_rows: int = 64) -> Path:
    import zarr

    (folder / "activations").mkdir(parents=True, exist_ok=True)
    (folder / "metadata").mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(m.weapon), n_batches + 1).astype(int)
    for b in range(n_batches):
        lo, hi = bounds[b], bounds[b + 1]
        arr = zarr.create_array(
            store=str(folder / "activations" / f"batch_{b:04d}.zarr"),
            shape=(hi - lo, m.dense.shape[1]),
            chunks=(chunk_rows, m.dense.shape[1]),
            dtype="float32",
        )
        arr[:] = m.dense[lo:hi]
        pq.write_table(
            pa.table(
                {
                    "batch_id": [b] * (hi - lo),
                    "sample_id": list(range(hi - lo)),
                    "ability_tokens": pa.array(
                        [m.ability[r] for r in range(lo, hi)], type=pa.list_(pa.int64())
                    ),
                    "weapon_id_token": [int(w) for w in m.weapon[lo:hi]],
                    "is_null_token": [False] * (hi - lo),
                    "global_index": list(range(lo, hi)),
                }
            ),
            folder / "metadata" / f"batch_{b:04d}.parquet",
        )
    (folder / "conversion_metadata.json").write_text(
        json.dumps({"n_batches": n_batches, "total_samples": len(m.weapon)})
    )
    return folder


def decoder_for(m: ModelData, d: int = 16, seed: int = 3) -> np.ndarray:
    """Decoder rows [F, d]: ultra children share their full parent's direction (plus noise)."""
    base = np.random.default_rng(seed).standard_normal((N_FULL + N_WEAPONS, d)).astype(np.float32)
    if m.name == "full":
        return base[:N_FULL]
    rows = [base[f // 2] + 0.1 * base[(f + 1) % N_FULL] for f in range(2 * N_FULL)]
    return np.stack(rows + list(base[N_FULL:])).astype(np.float32)


def write_torch_checkpoint(path: Path, decoder: np.ndarray, wrap: bool = False) -> Path:
    import torch

    h, d = decoder.shape
    state = {
        "encoder.weight": torch.zeros(h, d),
        "encoder.bias": torch.zeros(h),
        "decoder.weight": torch.from_numpy(decoder.T.copy()),
        "decoder.bias": torch.zeros(d),
        "decoder_bias": torch.zeros(d),
        "usage_ema": torch.zeros(h),
    }
    torch.save({"model_state_dict": state} if wrap else state, path)
    return path


def write_safetensors(folder: Path, decoder: np.ndarray, hook: str = "blocks.4.hook_resid_post") -> Path:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {"W_dec": decoder, "b_dec": np.zeros(decoder.shape[1], dtype=np.float32)},
        str(folder / "sae.safetensors"),
    )
    (folder / "cfg.json").write_text(
        json.dumps(
            {
                "d_sae": decoder.shape[0],
                "d_in": decoder.shape[1],
                "model_name": "toy-model",
                "hook_name": hook,
            }
        )
    )
    return folder / "sae.safetensors"


def write_labels(path: Path, n: int) -> Path:
    labels = {
        str(f): {"dashboard_name": f"dash {f}", "display_name": f"feature {f}", "research_label": ""}
        for f in range(0, n, 2)
    }
    path.write_text(json.dumps(labels))
    return path
