"""Bring your own SAEs: read each model's declared inputs, check them, build a pair directory.

`read_inputs` feeds `pair_source.build_pair_from_inputs`, the function behind `crossmodel-matcher build`. Per model it
accepts any mix of: a generic top-examples table (`top`), generic activations (`acts` with
`tokens`, optionally `keys`), SplatNLP's top-example store (`splatnlp_top`) and efficient
store (`splatnlp_acts`), a checkpoint (`decoder`), labels and an activation-space name.
Everything is read and checked first (errors name the file, the field and the fix), then
all tokens are mapped onto one shared vocabulary, and the two `ModelSource`s take the core
ingestion path (`pair_source.build_pair`: tables, alignment cache, the format's atomic write).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from crossmodel_matcher.store.activations_reader import read_activations, read_example_tokens, read_keys
from crossmodel_matcher.store.checkpoint_reader import read_decoder
from crossmodel_matcher.store.derive import TopExamples
from crossmodel_matcher.store.format import read_manifest
from crossmodel_matcher.store.labels_reader import read_labels
from crossmodel_matcher.store.sources import ActivationStream, InputError, ModelSource
from crossmodel_matcher.store.splatnlp_reader import read_efficient_store, read_top_store
from crossmodel_matcher.store.tables_reader import TopTable, read_top_table
from crossmodel_matcher.store.vocab_reader import (
    IdVocab,
    LocalTokens,
    derive_keys,
    key_digests,
    read_id_vocab,
    shared_vocabulary,
    to_shared,
)

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass
class ModelInputs:
    """What one model brings; paths may be str or Path. At least one data input is needed."""

    name: str
    top: Path | None = None  # generic top-examples table (.parquet/.csv/.jsonl)
    acts: Path | None = None  # generic activations (.npz CSR or .npy dense), rows = examples
    tokens: Path | None = None  # JSONL, one {"tokens": [...]} per activation row
    keys: Path | None = None  # text, one example key per activation row (default: from tokens)
    splatnlp_top: Path | None = None  # SplatNLP top-example store folder
    splatnlp_acts: Path | None = None  # SplatNLP efficient store folder
    decoder: Path | None = None  # .pth/.pt state dict or .safetensors (+ cfg.json)
    labels: Path | None = None  # labels JSON
    space: str | None = None  # activation space of the decoder (default: from cfg.json)
    vocab: Path | None = None  # vocabulary of this model's token ids, if not the shared one
    features: int | None = None  # number of features, when no input fixes it

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name not in ("name", "space", "features") and v is not None:
                setattr(self, f.name, Path(v).expanduser())

    @property
    def data_inputs(self) -> list[str]:
        return [k for k in ("top", "acts", "splatnlp_top", "splatnlp_acts") if getattr(self, k) is not None]


@dataclass
class ModelSummary:
    name: str
    n_features: int
    n_examples: int
    dead_features: int
    signals: list[str]
    activation_space: str | None
    n_labels: int
    repeated_keys: int = 0


@dataclass
class BuildSummary:
    """What a build wrote: per model, examples aligned, and which signals the pair offers."""

    out_dir: Path
    models: list[ModelSummary]
    n_aligned: int
    vocab_size: int
    activations: bool
    decoder_cosine: bool
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    build_report: dict = field(default_factory=dict)  # a streamed build's measurements

    def text(self) -> str:
        lines = [f"pair written to {self.out_dir} ({self.seconds:.1f}s, vocabulary {self.vocab_size} tokens)"]
        lines.append(f"{'model':<12} {'features':>9} {'examples':>10} {'dead':>7}  signals")
        for m in self.models:
            lines.append(
                f"{m.name:<12} {m.n_features:>9,} {m.n_examples:>10,} {m.dead_features:>7,}  "
                + ", ".join(m.signals)
            )
        lines.append(f"examples aligned across the models: {self.n_aligned:,}")
        sig = ["token overlap"]
        if self.activations:
            sig.append("activation correlation and co-firing")
        if self.decoder_cosine:
            sig.append("decoder cosine")
        lines.append(f"signals available: {', '.join(sig)}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "models": [vars(m) for m in self.models],
            "n_aligned": self.n_aligned,
            "vocab_size": self.vocab_size,
            "activations": self.activations,
            "decoder_cosine": self.decoder_cosine,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
            "build_report": self.build_report,
        }


@dataclass
class _ReadModel:
    """One model's inputs after reading: tokens still over each file's own vocabulary."""

    inputs: ModelInputs
    n_features: int
    stream: ActivationStream | None = None
    example_tokens: LocalTokens | None = None
    explicit_keys: np.ndarray | None = None
    keys_origin: str = ""
    top: TopTable | None = None
    decoder: np.ndarray | None = None
    space: str | None = None
    labels: dict[int, str] = field(default_factory=dict)


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse to replace anything but an earlier pair (and that only when asked)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; choose another --out")
    if (out / "pair.json").is_file():
        if not overwrite:
            raise InputError(f"{out}: holds a pair already; pass --force to replace it")
        return
    if any(out.iterdir()):
        raise InputError(
            f"{out}: exists and is not a pair folder, so it is never replaced; choose another --out"
        )


def _check_models(models: list[ModelInputs]) -> None:
    if len(models) != 2:
        raise InputError(f"give exactly two models (got {len(models)})")
    for m in models:
        if not MODEL_NAME.fullmatch(m.name or ""):
            raise InputError(
                f"model name {m.name!r}: use 1-64 letters, digits, '_', '.' or '-' (it names a folder)"
            )
        if not m.data_inputs:
            raise InputError(f"model {m.name!r}: give top=, acts=, splatnlp-top= or splatnlp-acts=")
        if m.acts and m.splatnlp_acts:
            raise InputError(f"model {m.name!r}: give acts= or splatnlp-acts=, not both")
        if m.top and m.splatnlp_top:
            raise InputError(f"model {m.name!r}: give top= or splatnlp-top=, not both")
        if m.acts and not m.tokens:
            raise InputError(
                f'model {m.name!r}: acts= needs tokens= (JSON lines, one {{"tokens": [...]}} per row)'
            )
        if (m.tokens or m.keys) and not m.acts:
            raise InputError(
                f"model {m.name!r}: tokens= and keys= describe the rows of acts=; give acts= too"
            )
        if m.features is not None and m.features < 1:
            raise InputError(f"model {m.name!r}: features={m.features} must be positive")
    if models[0].name == models[1].name:
        raise InputError(f"the two models need different names (both {models[0].name!r})")


def _read_model(m: ModelInputs, vocab: IdVocab | None, weapons: IdVocab | None) -> _ReadModel:
    ids = read_id_vocab(m.vocab) if m.vocab else vocab
    if (m.splatnlp_top or m.splatnlp_acts) and (vocab is None or weapons is None):
        raise InputError(
            f"model {m.name!r}: SplatNLP stores hold token ids; give --vocab vocab.json and "
            "--weapon-vocab weapon_vocab.json"
        )
    stream, tokens, keys, keys_origin = None, None, None, ""
    if m.acts:
        stream = read_activations(m.acts)
        tokens, keys = read_example_tokens(m.tokens, ids)
        keys_origin = f"{m.tokens}, field 'example_key'"
        if len(tokens.rows) != stream.n_examples:
            raise InputError(
                f"{m.tokens}: {len(tokens.rows)} rows of tokens but {m.acts} has {stream.n_examples} "
                "activation rows; give one token row per activation row, in the same order"
            )
        if m.keys:
            keys, keys_origin = read_keys(m.keys), str(m.keys)
            if len(keys) != stream.n_examples:
                raise InputError(
                    f"{m.keys}: {len(keys)} keys for {stream.n_examples} activation rows in {m.acts}"
                )
    elif m.splatnlp_acts:
        stream, tokens = read_efficient_store(m.splatnlp_acts, vocab, weapons)
    n_features = stream.n_features if stream is not None else None
    if m.features is not None:
        if n_features is not None and n_features != m.features:
            raise InputError(
                f"model {m.name!r}: features={m.features} but the activations have {n_features} columns"
            )
        n_features = m.features
    decoder, space = None, None
    if m.decoder:
        decoder, space = read_decoder(m.decoder, n_features)
        n_features = decoder.shape[0]
    top = None
    if m.top:
        top = read_top_table(m.top, ids, n_features)
    elif m.splatnlp_top:
        top = read_top_store(m.splatnlp_top, vocab, weapons, n_features)
    if n_features is None:
        n_features = int(top.feature_id.max()) + 1
    labels = read_labels(m.labels, n_features) if m.labels else {}
    return _ReadModel(
        m, n_features, stream, tokens, keys, keys_origin, top, decoder, m.space or space, labels
    )


def _source(r: _ReadModel, vocab: list[str], index: dict[str, int], vocab_origin: str) -> ModelSource:
    m = r.inputs
    top = None
    if r.top is not None:
        top = TopExamples(r.top.feature_id, r.top.activation, to_shared(r.top.tokens, index, vocab_origin))
    example_tokens = keys = None
    if r.example_tokens is not None:
        example_tokens = to_shared(r.example_tokens, index, vocab_origin)
        if r.explicit_keys is not None:
            uniq, counts = np.unique(r.explicit_keys, return_counts=True)
            if np.any(counts > 1):
                raise InputError(
                    f"{r.keys_origin}: key {str(uniq[counts > 1][0])!r} is given to "
                    f"{int(counts.max())} rows; "
                    "explicit example keys must be unique"
                )
            keys = r.explicit_keys
        else:
            keys = derive_keys(example_tokens, vocab)
        keys = key_digests(keys)  # 16 bytes a key; explicit and derived keys stay comparable
    origin = ", ".join(str(getattr(m, k)) for k in m.data_inputs)
    return ModelSource(
        name=m.name,
        n_features=r.n_features,
        example_keys=keys,
        example_tokens=example_tokens,
        top_examples=top,
        decoder=r.decoder,
        activation_space=r.space,
        labels=r.labels,
        origin=origin,
        activation_stream=r.stream,
    )


def build_summary(out: Path, sources: list[ModelSource], seconds: float) -> BuildSummary:
    """The closing summary, read back from the pair just written."""
    manifest = read_manifest(out)
    files = manifest["files"]
    models, notes = [], []
    for meta, src in zip(manifest["models"], sources):
        repeated = 0
        if src.example_keys is not None and src.activation_stream is not None:
            repeated = len(src.example_keys) - len(np.unique(src.example_keys))
            if repeated:
                notes.append(
                    f"{src.name}: {repeated:,} rows repeat an earlier example key; only the first aligns"
                )
        fire = np.load(out / "models" / meta["name"] / "fire_count.npy", allow_pickle=False)
        models.append(
            ModelSummary(
                name=meta["name"],
                n_features=int(meta["n_features"]),
                n_examples=int(meta["n_examples"]),
                dead_features=int((fire == 0).sum()),
                signals=list(meta["signals"]),
                activation_space=meta.get("activation_space"),
                n_labels=len(src.labels),
                repeated_keys=repeated,
            )
        )
    a, b = models
    activations = "cross/sum_prod.npy" in files
    decoders = [files.get(f"models/{m.name}/decoder.npy") for m in models]
    cosine = (
        all(decoders)
        and a.activation_space is not None
        and a.activation_space == b.activation_space
        and decoders[0]["shape"][1] == decoders[1]["shape"][1]
    )
    n_aligned = int(manifest.get("n_aligned_examples", 0))
    if not activations:
        notes.append("no activation signals: both models need activations (acts= or splatnlp-acts=)")
    elif n_aligned < 0.5 * min(a.n_examples, b.n_examples):
        notes.append(f"only {n_aligned:,} examples align; check that both models use one key scheme")
    if all(decoders) and not cosine:
        notes.append(
            f"decoder cosine is off: activation spaces {a.activation_space!r} and {b.activation_space!r} "
            "differ or are undeclared (set space= when both SAEs read the same activations)"
        )
    return BuildSummary(
        out_dir=out,
        models=models,
        n_aligned=n_aligned,
        vocab_size=int(manifest["vocab_size"]),
        activations=activations,
        decoder_cosine=bool(cosine),
        notes=notes,
        seconds=seconds,
    )


def read_inputs(
    out: Path,
    models: list[ModelInputs],
    vocab: str | Path | None = None,
    weapon_vocab: str | Path | None = None,
    overwrite: bool = False,
) -> tuple[list[str], list[ModelSource], dict]:
    """Read, check and map both models' inputs: (shared vocabulary, two sources, manifest extra).

    Raises `InputError` naming the file, the field and the fix; nothing is written.
    """
    _check_models(models)
    check_out_dir(out, overwrite)
    id_vocab = read_id_vocab(vocab) if vocab else None
    weapons = read_id_vocab(weapon_vocab) if weapon_vocab else None
    read = [_read_model(m, id_vocab, weapons) for m in models]
    local = [t for r in read for t in (r.example_tokens, r.top.tokens if r.top else None) if t is not None]
    shared = shared_vocabulary(id_vocab, weapons, local)
    vocab_origin = " + ".join(str(p) for p in (vocab, weapon_vocab) if p) or "the union of the tokens seen"
    index = {t: i for i, t in enumerate(shared)}
    sources = [_source(r, shared, index, vocab_origin) for r in read]
    manifest = {
        "build": {
            "models": {
                m.name: {k: str(v) for k, v in vars(m).items() if k != "name" and v is not None}
                for m in models
            },
            "vocab": None if vocab is None else str(vocab),
            "weapon_vocab": None if weapon_vocab is None else str(weapon_vocab),
        }
    }
    return shared, sources, manifest
