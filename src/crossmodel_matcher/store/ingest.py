"""Ingestion: examples and activations in, a validated model pair out.

Every importer (the demo generator included) ends here, so real data and the demo take
one path: `ModelSource` x 2 -> `build_pair_tables` -> `write_pair` (via `pair_source.build_pair`,
which adds the model-wide alignment).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.progress import step_reporter
from crossmodel_matcher.store import derive, memory_budget
from crossmodel_matcher.store.derive import TopExamples
from crossmodel_matcher.store.limits import BuildLimits
from crossmodel_matcher.store.sources import InputError, ModelSource
from crossmodel_matcher.tables import ModelTables, PairTables


def _check_source(src: ModelSource, vocab_size: int) -> None:
    where = f"{src.origin} (model {src.name!r})"
    if src.activations is None and src.top_examples is None and src.activation_stream is None:
        raise InputError(f"{where}: give activations or a top-examples table")
    if src.activation_stream is not None:
        stream = src.activation_stream
        if src.activations is not None:
            raise InputError(f"{where}: give activations or an activation stream, not both")
        if stream.n_features != src.n_features:
            raise InputError(
                f"{stream.origin}: activations have {stream.n_features} features, expected "
                f"n_features={src.n_features}"
            )
        n = stream.n_examples
        if src.example_keys is None or len(src.example_keys) != n:
            raise InputError(f"{where}: need one example key per activation row ({n})")
        if src.example_tokens is None or len(src.example_tokens) != n:
            raise InputError(f"{where}: need the tokens of each activation row ({n})")
    if src.activations is not None:
        acts = src.activations
        if acts.shape[1] != src.n_features:
            raise InputError(
                f"{where}: activations have {acts.shape[1]} columns, expected n_features="
                f"{src.n_features}; columns must be features"
            )
        if not np.all(np.isfinite(acts.data)):
            raise InputError(f"{where}: field 'activations' holds NaN or inf; clean them first")
        if src.example_keys is None or len(src.example_keys) != acts.shape[0]:
            raise InputError(f"{where}: need one example key per activation row ({acts.shape[0]})")
        if len(np.unique(src.example_keys)) != len(src.example_keys):
            raise InputError(f"{where}: field 'example_keys' has duplicates; keys must be unique")
        if src.example_tokens is None or len(src.example_tokens) != acts.shape[0]:
            raise InputError(f"{where}: need the tokens of each activation row ({acts.shape[0]})")
    tokens = src.example_tokens if src.example_tokens is not None else (
        src.top_examples.tokens if src.top_examples is not None else None
    )
    if tokens is not None and len(tokens.indices):
        lo, hi = int(tokens.indices.min()), int(tokens.indices.max())
        if lo < 0 or hi >= vocab_size:
            raise InputError(f"{where}: field 'tokens' has ids outside the vocabulary [0, {vocab_size})")
    if src.decoder is not None:
        dec = np.asarray(src.decoder)
        if dec.ndim != 2 or dec.shape[0] != src.n_features:
            raise InputError(f"{where}: decoder must be [n_features={src.n_features}, d]")
        if not np.all(np.isfinite(dec)):
            raise InputError(f"{where}: decoder holds NaN or inf")


def _assemble(
    src: ModelSource,
    vocab: list[str],
    top: TopExamples,
    base_rate: np.ndarray,
    n_examples: int,
    stats: tuple[np.ndarray, np.ndarray, np.ndarray],
    csc: tuple | None,
    say: Callable[[str], None],
) -> ModelTables:
    """One model's tables from its top examples, stats and aligned activations."""
    tok = derive.build_token_tables(top, src.n_features, vocab, base_rate, progress=None)
    say(f"{src.name}: token tables ({src.n_features} features)")
    return ModelTables(
        name=src.name,
        vocab=vocab,
        n_examples=n_examples,
        top_token_ids=tok.top_token_ids,
        top_token_counts=tok.top_token_counts,
        token_weights=tok.token_weights,
        fire_count=stats[0],
        max_activation=stats[1],
        mean_activation=stats[2],
        labels=dict(src.labels),
        activation_space=src.activation_space,
        decoder=None if src.decoder is None else np.asarray(src.decoder, dtype=np.float32),
        act_indptr=None if csc is None else csc[0],
        act_indices=None if csc is None else csc[1],
        act_data=None if csc is None else csc[2],
    )


def _model_tables(
    src: ModelSource, vocab: list[str], rows: np.ndarray | None, say: Callable[[str], None]
) -> tuple[ModelTables, tuple | None]:
    vocab_size = len(vocab)
    if src.activations is not None:
        acts = sp.csr_matrix(src.activations, dtype=np.float32)
        top = src.top_examples or derive.top_examples_from_activations(acts, src.example_tokens)
        base = derive.token_base_rates(src.example_tokens, vocab_size)
        fire, mx, mean = derive.feature_stats(acts)
        n_examples = acts.shape[0]
    else:
        top = src.top_examples
        base = derive.token_base_rates(top.tokens, vocab_size)
        fire, mx, mean = derive.stats_from_top_examples(top, src.n_features)
        n_examples = int(len(np.unique(top.feature_id)))
    say(f"{src.name}: top examples ready ({len(top.feature_id)} rows)")
    csc = derive.aligned_csc(src.activations, rows) if rows is not None else None
    tables = _assemble(src, vocab, top, base, n_examples, (fire, mx, mean), csc, say)
    return tables, csc


def build_pair_tables(
    vocab: list[str],
    source_a: ModelSource,
    source_b: ModelSource,
    description: str = "",
    progress: bool = True,
    limits: BuildLimits | None = None,
) -> PairTables:
    """Derive both models' tables and their cross statistics from raw sources.

    What the build will allocate is estimated first and refused (InputError naming the field
    that sizes it) above `limits.memory_limit` (see `store.memory_budget`). A source that
    streams its activations takes the streamed build (`store.stream_build`), bounded by `limits`.
    """
    say = step_reporter("build", progress)
    if source_a.name == source_b.name:
        raise InputError(f"the two models need different names (both {source_a.name!r})")
    for src in (source_a, source_b):
        _check_source(src, len(vocab))
    try:
        limits = limits or BuildLimits()
        needs = memory_budget.build_needs((source_a, source_b), len(vocab))
        memory_budget.require_within(needs, limits.memory_limit, source=limits.memory_source)
    except memory_budget.MemoryBudgetError as exc:
        raise InputError(str(exc)) from None
    if source_a.activation_stream is not None or source_b.activation_stream is not None:
        return _build_streamed(vocab, source_a, source_b, description, progress, say, limits)
    rows_a = rows_b = None
    if source_a.activations is not None and source_b.activations is not None:
        rows_a, rows_b = derive.align_examples(
            np.asarray(source_a.example_keys), np.asarray(source_b.example_keys)
        )
        if len(rows_a) == 0:
            raise InputError(
                f"{source_a.origin} / {source_b.origin}: no example key is shared by the two "
                "models, so activations cannot be aligned; check that both use one key scheme"
            )
        say(f"aligned {len(rows_a)} examples by key")
    ta, csc_a = _model_tables(source_a, vocab, rows_a, say)
    tb, csc_b = _model_tables(source_b, vocab, rows_b, say)
    sum_prod = cofire = None
    n_aligned = 0 if rows_a is None else len(rows_a)
    if csc_a is not None:
        sum_prod, cofire = derive.cross_statistics(csc_a, csc_b, n_aligned, progress=say)
        say("cross statistics ready")
    return PairTables(
        models=(ta, tb),
        n_aligned=n_aligned,
        cross_sum_prod=sum_prod,
        cross_cofire=cofire,
        description=description,
    )


def _build_streamed(
    vocab: list[str],
    source_a: ModelSource,
    source_b: ModelSource,
    description: str,
    progress: bool,
    say: Callable[[str], None],
    limits: BuildLimits | None = None,
) -> PairTables:
    """`build_pair_tables` when a source streams its activations: reduce, then the same tables."""
    from crossmodel_matcher.store.stream_build import stream_pair

    red = stream_pair(source_a, source_b, limits or BuildLimits(), say, progress)
    sampled = red.n_sample < red.n_aligned
    models = []
    for src, r in zip((source_a, source_b), red.reductions):
        if r is None:  # top examples only
            models.append(_model_tables(src, vocab, None, say)[0])
            continue
        top = src.top_examples or r.top
        tokens = src.example_tokens
        if r.n_examples < len(tokens):  # --max-examples: the rows read
            tokens = tokens.take(np.arange(r.n_examples))
        base = derive.token_base_rates(tokens, len(vocab))
        stats = (r.fire_count, r.max_activation, r.mean_activation)
        m = _assemble(src, vocab, top, base, r.n_examples, stats, r.sample_csc, say)
        if sampled:
            m.set_aligned_moments(*r.aligned_moments)
        models.append(m)
    sum_prod, cofire = red.cross if red.cross is not None else (None, None)
    pair = PairTables(
        models=(models[0], models[1]),
        n_aligned=red.n_aligned,
        cross_sum_prod=sum_prod,
        cross_cofire=cofire,
        description=description,
        n_sample=red.n_sample if sampled else None,
    )
    pair.build_report = red.summary  # what the build measured (see `pair_source.build_pair`)
    return pair
