"""Generate, cache and build a trained pair (and its null twin) through the project's `build`.

Everything follows from a `PairSpec` (kind, widths, seed): the true features, the training
data, both SAEs, the evaluation examples. The SAEs' activations on the evaluation examples
and each example's tokens (the names of its active true features) are written in the
generic input format (CSR `.npz`, tokens JSONL, keys) and built with
`pair_source.build_pair_from_inputs`, as a user's data would be. The null twin is the
same pair with the wide model's example keys permuted, so nothing corresponds.
Cached under `<cache>/trained-v1-<kind>-<narrow>x<wide>-seed<seed>[-null]`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from crossmodel_matcher.demo import default_cache_dir
from crossmodel_matcher.pair_source import build_pair_from_inputs
from crossmodel_matcher.store.inputs_reader import ModelInputs
from crossmodel_matcher.trainedpair import truth as truth_mod
from crossmodel_matcher.trainedpair.data import TrueFeatures, make_features, sample
from crossmodel_matcher.trainedpair.train import TrainConfig, encode_all, train_sae

VERSION = 2  # 2: an absorbed form is assigned only to latents that do not fire for the parent alone
D_MODEL = 96
N_TRAIN = 262_144
N_EVAL = 40_000


@dataclass(frozen=True)
class PairSpec:
    kind: str = "topk"  # "topk" | "relu"
    narrow: int = 256
    wide: int = 2048
    seed: int = 1
    steps: int = 0  # 0: the kind's default (TopK 1,500, ReLU 2,500)

    @property
    def name(self) -> str:
        return f"trained-v{VERSION}-{self.kind}-{self.narrow}x{self.wide}-seed{self.seed}"

    def config(self, width: int, offset: int) -> TrainConfig:
        seed = self.seed * 10 + offset
        if self.kind == "topk":
            return TrainConfig("topk", width, k=6 if width == self.narrow else 8,
                               steps=self.steps or 1500, seed=seed)
        if self.kind == "relu":
            return TrainConfig("relu", width, l1=0.05, lr=3e-3, b_enc_init=-0.3,
                               steps=self.steps or 2500, seed=seed)
        raise ValueError(f"kind={self.kind!r} must be 'topk' or 'relu'")


def _pool(tf: TrueFeatures, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([sample(tf, 8192, rng)[0] for _ in range(n // 8192)])


def _write_inputs(folder: Path, name: str, acts: list[np.ndarray], keys: list[str]) -> ModelInputs:
    csr = sp.vstack([sp.csr_matrix(np.where(a > 0, a, 0.0).astype(np.float32)) for a in acts]).tocsr()
    np.savez(folder / f"{name}.npz", indptr=csr.indptr, indices=csr.indices, data=csr.data,
             shape=np.array(csr.shape, dtype=np.int64))
    (folder / f"{name}_keys.txt").write_text("\n".join(keys) + "\n")
    return ModelInputs(name, acts=folder / f"{name}.npz", tokens=folder / "tokens.jsonl",
                       keys=folder / f"{name}_keys.txt")


def generate(spec: PairSpec, folder: Path, progress: bool = True) -> dict:
    """Train both SAEs and write their inputs and the truth into `folder`; returns the truth."""
    torch.set_num_threads(1)  # one thread is several times faster on a shared 2-core machine
    t0 = time.perf_counter()
    tf = make_features(spec.seed, d=D_MODEL)
    rng = np.random.default_rng(spec.seed + 1000)
    pool = _pool(tf, N_TRAIN, rng)

    def draw(n: int) -> np.ndarray:
        return pool[rng.integers(0, len(pool), n)]

    saes, decoders, acts = {}, {}, {}
    for offset, (name, width) in enumerate((("narrow", spec.narrow), ("wide", spec.wide))):
        if progress:
            print(f"[trained] training {name} {spec.kind} SAE, {width} latents", flush=True)
        saes[name] = train_sae(D_MODEL, spec.config(width, offset), draw)
        decoders[name] = saes[name].W_dec.detach().numpy().T.copy()
    x_eval, mag = sample(tf, N_EVAL, np.random.default_rng(spec.seed + 2000))
    for name, sae in saes.items():
        acts[name] = encode_all(sae, x_eval)
    keys = [f"ex{i:06d}" for i in range(N_EVAL)]
    rows = [np.flatnonzero(r > 0) for r in mag]
    with open(folder / "tokens.jsonl", "w") as fh:
        for r in rows:
            fh.write(json.dumps({"tokens": [tf.names[t] for t in r]}) + "\n")
    inputs = {name: _write_inputs(folder, name, acts[name], keys) for name in acts}
    np.savez(folder / "decoders.npz", **decoders)  # for re-deriving the truth without training
    null_keys = [keys[i] for i in np.random.default_rng(spec.seed + 3000).permutation(N_EVAL)]
    (folder / "wide_null_keys.txt").write_text("\n".join(null_keys) + "\n")
    data = {"spec": asdict(spec), "models": ["narrow", "wide"]}
    data.update(derive_truth(tf, decoders, acts, mag))
    data.update({
        "generation_seconds": round(time.perf_counter() - t0, 1),
        "inputs": {n: {k: str(v) for k, v in vars(m).items() if v is not None and k != "name"}
                   for n, m in inputs.items()},
    })
    return data


def derive_truth(
    tf: TrueFeatures, decoders: dict, acts: dict, mag: np.ndarray,
    max_alone: float = truth_mod.ABSORBED_MAX_PARENT_ALONE,
) -> dict:
    """The truth entries of truth.json from both SAEs' decoders and evaluation activations
    (`acts`: row blocks per model) and the true features' magnitudes on those examples."""
    assigned = {}
    for name in acts:
        live = np.zeros(decoders[name].shape[0], dtype=bool)
        for a in acts[name]:
            live |= (a > 0).any(axis=0)
        rates = truth_mod.parent_alone_rates(acts[name], mag, tf)
        assigned[name] = truth_mod.assign(decoders[name], live, tf, rates, max_alone)
    rel = truth_mod.relations(tf, assigned["narrow"], assigned["wide"])
    return {
        "true_features": {"names": tf.names, "kind": tf.kind.tolist(), "parent": tf.parent.tolist()},
        "assignment": {n: {"truth": a[0].tolist(), "cosine": np.round(a[1], 4).tolist()}
                       for n, a in assigned.items()},
        "relations": _jsonable(rel),
        "expected_verdicts": {str(k): v for k, v in truth_mod.expected_verdicts(rel).items()},
    }


def _jsonable(rel: dict) -> dict:
    out = {}
    for k, v in rel.items():
        if isinstance(v, dict):
            out[k] = {str(a): _jsonable(b) if isinstance(b, dict) else b for a, b in v.items()}
        else:
            out[k] = v
    return out


def ensure_trained_pair(
    spec: PairSpec, cache_dir: str | Path | None = None, null: bool = False, progress: bool = True
) -> Path:
    """The built pair directory of `spec` (or its null twin), generated on first use."""
    base = Path(cache_dir or default_cache_dir())
    out = base / (spec.name + ("-null" if null else ""))
    if (out / "pair.json").is_file() and (out / "truth.json").is_file():
        return out
    inputs = base / f"{spec.name}-inputs"
    truth_path = inputs / "truth.json"
    if not truth_path.is_file():
        inputs.mkdir(parents=True, exist_ok=True)
        data = generate(spec, inputs, progress)
        tmp = truth_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(truth_path)
    data = json.loads(truth_path.read_text())
    models = []
    for name in ("narrow", "wide"):
        kw = {k: Path(v) for k, v in data["inputs"][name].items()}
        if null and name == "wide":
            kw["keys"] = inputs / "wide_null_keys.txt"
        models.append(ModelInputs(name, **kw))
    what = "null twin (wide keys permuted) of " if null else ""
    build_pair_from_inputs(out, models, description=f"{what}trained pair {spec.name}",
                           overwrite=True, progress=progress)
    (out / "truth.json").write_text(truth_path.read_text())
    return out

