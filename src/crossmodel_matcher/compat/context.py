"""Contexts of the original API: one per model, contexts of one pair share one loaded `Matcher`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from crossmodel_matcher.matcher import Matcher, MatcherInputError, ModelTables
from crossmodel_matcher.pair_source import open_pair

_MATCHERS: dict[tuple[str, int], Matcher] = {}
_LOCK = threading.Lock()


# ---- contexts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelContext:
    """One model of a loaded pair; contexts of one pair share one `Matcher`."""

    model_type: str
    matcher: Matcher = field(repr=False)
    pair_dir: Path | None = None

    @property
    def tables(self) -> ModelTables:
        return self.matcher.model(self.model_type)

    @property
    def n_features(self) -> int:
        return self.tables.n_features

    @property
    def vocab(self) -> dict[str, int]:
        """Token -> id, as the original context had it."""
        return {tok: i for i, tok in enumerate(self.matcher.pair.vocab)}

    @property
    def inv_vocab(self) -> dict[int, str]:
        return dict(enumerate(self.matcher.pair.vocab))

    def get_feature_ids(self) -> list[int]:
        """Every feature id of this model (the original's `ctx.get_feature_ids()`)."""
        return list(range(self.n_features))

    def other_model(self) -> str:
        """Name of the pair's other model."""
        return self.matcher.pair.other(self.model_type).name


def _pair_key(pair_dir: Path) -> tuple[str, int]:
    manifest = pair_dir / "pair.json"
    mtime = manifest.stat().st_mtime_ns if manifest.is_file() else 0
    return str(pair_dir), mtime


def _shared_matcher(pair_dir: Path) -> Matcher:
    """One loaded Matcher per pair directory (rebuilt pairs are reloaded)."""
    key = _pair_key(pair_dir)
    with _LOCK:
        matcher = _MATCHERS.get(key)
        if matcher is None:
            for old in [k for k in _MATCHERS if k[0] == key[0]]:
                del _MATCHERS[old]
            matcher = open_pair(pair_dir)
            _MATCHERS[key] = matcher
        return matcher


def clear_context_cache() -> None:
    """Forget every loaded pair (the next `load_context` loads from disk again)."""
    with _LOCK:
        _MATCHERS.clear()


def load_context(model_name: str = "ultra", data: str | Path | Matcher | None = None) -> ModelContext:
    """Context for one model of a pair.

    `data` is a pair directory or an already-loaded `Matcher`; by default the pair named by
    $CROSSMODEL_MATCHER_PAIR, else the demo pair (built into the cache on first use).
    """
    if isinstance(data, Matcher):
        matcher, pair_dir = data, None
    else:
        from crossmodel_matcher.pair_choice import resolve_pair_dir

        pair_dir = resolve_pair_dir(None if data is None else str(data)).resolve()
        matcher = _shared_matcher(pair_dir)
    if not isinstance(model_name, str):
        raise MatcherInputError(f"model_name must be a model name string, got {model_name!r}")
    matcher.model(model_name)  # raises with the loaded model names
    return ModelContext(model_type=model_name, matcher=matcher, pair_dir=pair_dir)


