# No `from __future__ import annotations`: the argument types are built at run time from the
# loaded pair (the `model` Literal, the feature ranges), and the SDK reads them as objects.
"""The tools' argument types, typed for one pair: each names its valid values in its error."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

from crossmodel_matcher.errors import PairFormatError
from crossmodel_matcher.figures.kinds import FIGURE_KINDS
from crossmodel_matcher.rules import (
    MAX_BATCH,
    MAX_OFFSET,
    MAX_PARTS,
    MAX_TOP_N,
    MAX_UNIQUE_LIMIT,
    RANK_KEYS,
    TOP_K_TOKENS,
)
from crossmodel_matcher.schemas import RELATIONS
from crossmodel_matcher.store.format import read_manifest


def explained(sentence: str, integer: bool = False) -> WrapValidator:
    """Replace pydantic's error for one argument with an actionable sentence.

    With `integer`, booleans are refused too (pydantic would read true as 1).
    """

    def refuse(value: Any) -> PydanticCustomError:
        got = repr(value)
        got = got if len(got) <= 60 else got[:57] + "..."
        return PydanticCustomError(
            "invalid_argument", "{sentence} (got {got})", {"sentence": sentence, "got": got}
        )

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        if integer and isinstance(value, bool):
            raise refuse(value)
        try:
            return handler(value)
        except ValidationError:
            raise refuse(value) from None

    return WrapValidator(check)


@dataclass(frozen=True)
class PairShape:
    """Model names and feature counts: what the tool signatures are built from."""

    names: tuple[str, ...]
    n_features: dict[str, int]

    @classmethod
    def of_matcher(cls, matcher: Any) -> "PairShape":
        models = matcher.pair.models
        return cls(tuple(m.name for m in models), {m.name: m.n_features for m in models})

    @classmethod
    def of_dir(cls, pair_dir: Path) -> "PairShape":
        models = read_manifest(pair_dir).get("models", [])
        try:
            return cls(tuple(m["name"] for m in models), {m["name"]: int(m["n_features"]) for m in models})
        except (KeyError, TypeError, ValueError) as exc:
            raise PairFormatError(f"{pair_dir / 'pair.json'}: field 'models' is malformed ({exc})") from exc

    def ranges(self) -> str:
        return ", ".join(f"0..{self.n_features[n] - 1} for {n!r}" for n in self.names)

    @property
    def names_text(self) -> str:
        return " or ".join(repr(n) for n in self.names)

    @property
    def other(self) -> str:
        """How a description names the other model."""
        a, b = self.names
        return f"the other model ({b} or {a})"


def _int(arg: str, lo: int, hi: int, description: str) -> Any:
    return Annotated[
        int,
        Field(ge=lo, le=hi, description=description),
        explained(f"{arg} must be an integer from {lo} to {hi}", integer=True),
    ]


def argument_types(shape: PairShape) -> dict[str, Any]:
    """Every tool argument's annotated type, by argument name, for this pair."""
    max_id = max(shape.n_features.values()) - 1
    return {**_core_types(shape, max_id), **_answer_types(shape, max_id), **_figure_types(shape, max_id)}


def _answer_types(shape: PairShape, max_id: int) -> dict[str, Any]:
    """The arguments that shape answers: format, batches and filters."""
    return {
        "response_format": Annotated[
            Literal["concise", "detailed"],
            Field(description="detailed: every score and token list (~5x longer)."),
            explained("response_format must be 'concise' or 'detailed'"),
        ],
        "target_features": Annotated[
            list[int] | None,
            Field(min_length=1, max_length=MAX_BATCH,
                  description=f"Instead of target_feature: up to {MAX_BATCH} feature ids of the other model."),
            explained(f"target_features must be a list of 1..{MAX_BATCH} feature ids of the other model"),
        ],
        "near_feature": Annotated[
            int | None,
            Field(ge=0, le=max_id, description=f"Rank by closeness to this feature of the other model: {shape.ranges()}."),
            explained(f"near_feature must be an integer feature id of the other model: {shape.ranges()}",
                      integer=True),
        ],
        "near_model": Annotated[
            Literal[shape.names] | None,  # type: ignore[valid-type]
            Field(description="The model of near_feature: the other model (the default)."),
            explained(f"near_model must be one of {shape.names_text}"),
        ],
        "token": Annotated[
            str | None, Field(max_length=200, description="Keep features for which this token is distinctive.")
        ],
        "relation": Annotated[
            Literal[RELATIONS] | None,  # type: ignore[valid-type]
            Field(description="With near_feature: keep features in this relation to it."),
            explained(f"relation must be one of {', '.join(RELATIONS)}"),
        ],
    }


def _figure_types(shape: PairShape, max_id: int) -> dict[str, Any]:
    """show_figure's arguments; "tool.argument" keys type one tool's argument differently."""
    return {
        # Described by the tool's own description (tools/list is kept small): no per-argument prose.
        "kind": Annotated[
            Literal[FIGURE_KINDS],  # type: ignore[valid-type]
            explained(f"kind must be one of {', '.join(FIGURE_KINDS)}"),
        ],
        "show_figure.model": Annotated[
            Literal[shape.names] | None,  # type: ignore[valid-type]
            explained(f"model must be one of {shape.names_text}"),
        ],
        "show_figure.feature": Annotated[
            int | None,
            Field(ge=0, le=max_id),
            explained(f"feature must be an integer feature id: {shape.ranges()}", integer=True),
        ],
    }


def _core_types(shape: PairShape, max_id: int) -> dict[str, Any]:
    names_text = shape.names_text

    def feature_arg(arg: str, what: str) -> Any:
        return Annotated[
            int,
            Field(ge=0, le=max_id, description=f"{what}: {shape.ranges()}."),
            explained(f"{arg} must be an integer feature id: {shape.ranges()}", integer=True),
        ]

    return {
        "model": Annotated[
            Literal[shape.names],  # type: ignore[valid-type]  # built from the loaded pair
            Field(description="The feature's model."),
            explained(f"model must be one of {names_text}"),
        ],
        "feature": feature_arg("feature", "Feature id in `model`"),
        "source_feature": feature_arg("source_feature", "Feature id in `model`"),
        "target_feature": Annotated[
            int | None,
            Field(ge=0, le=max_id, description=f"Feature id in the other model: {shape.ranges()}."),
            explained(f"target_feature must be an integer feature id: {shape.ranges()}", integer=True),
        ],
        "top_n": _int("top_n", 1, MAX_TOP_N, f"How many ranked counterparts to return (1..{MAX_TOP_N})."),
        "rank_by": Annotated[
            Literal[RANK_KEYS],  # type: ignore[valid-type]
            Field(description="Score to rank by; match_score uses activations and tokens."),
            explained(f"rank_by must be one of {', '.join(RANK_KEYS)}"),
        ],
        "max_parts": _int("max_parts", 1, MAX_PARTS, f"Most parts (or parents) to return (1..{MAX_PARTS})."),
        "n_tokens": _int(
            "n_tokens", 1, TOP_K_TOKENS, f"Tokens to list (1..{TOP_K_TOKENS})."
        ),
        "offset": _int("offset", 0, MAX_OFFSET, "Index of the first feature on this page (next_offset)."),
        "limit": _int("limit", 1, MAX_UNIQUE_LIMIT, "Features on this page."),
    }

