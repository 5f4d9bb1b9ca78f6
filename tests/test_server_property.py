"""Property test: random and invalid argument sets never crash or hang the server.

Every call must come back either as a structured result that validates against the tool's
report model, or as isError with a non-empty message; arguments that are certainly valid must
succeed and arguments that are certainly invalid must fail. One client stays open across all
examples (on a blocking portal), so the test also shows the server keeps serving.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from crossmodel_matcher.answers import compact_json
from crossmodel_matcher.matcher.decompose import MAX_PARTS
from crossmodel_matcher.rules import ANSWER_BUDGET_CHARS, MAX_TOP_N, MAX_UNIQUE_LIMIT, RANK_KEYS, TOP_K_TOKENS
from crossmodel_matcher.server import MAX_OFFSET, create_server
from crossmodel_matcher.server.answers import ANSWERS
from tests.server_fixtures import N_FULL, N_ULTRA

pytest_plugins = ["tests.server_fixtures"]  # small_matcher

N_EXAMPLES = 1200
CALL_TIMEOUT_S = 10
SIZES = {"full": N_FULL, "ultra": N_ULTRA}
OTHER = {"full": "ultra", "ultra": "full"}
# Integer arguments besides the feature ids, with their valid ranges.
BOUNDS = {
    "top_n": (1, MAX_TOP_N), "max_parts": (1, MAX_PARTS), "n_tokens": (1, TOP_K_TOKENS),
    "offset": (0, MAX_OFFSET), "limit": (1, MAX_UNIQUE_LIMIT),
}
ARGS = {
    "find_matches": ("model", "feature", "top_n", "rank_by"),
    "compare_features": ("model", "source_feature", "target_feature"),
    "find_decomposition": ("model", "feature", "max_parts"),
    "list_models": (),
    "describe_feature": ("model", "feature", "n_tokens"),
    "list_unique_features": ("model", "offset", "limit"),
    "pair_alignment": (),
}
REQUIRED = {"model", "feature", "source_feature", "target_feature"}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def valid_value(name: str, model: Any) -> st.SearchStrategy[Any]:
    """A value that is valid for `name` when `model` is a loaded model."""
    if name == "model":
        return st.sampled_from(sorted(SIZES))
    if name == "rank_by":
        return st.sampled_from(RANK_KEYS)
    if name in BOUNDS:
        return st.integers(*BOUNDS[name])
    owner = model if isinstance(model, str) and model in SIZES else "full"
    owner = OTHER[owner] if name == "target_feature" else owner
    return st.integers(0, SIZES[owner] - 1)


def edge_value(name: str) -> st.SearchStrategy[Any]:
    """Just outside (or just inside) the valid range, or a near miss."""
    if name == "model":
        return st.sampled_from(["Full", "wide", "", " full", "ultra2"])
    if name == "rank_by":
        return st.sampled_from(["cosine", "MATCH_SCORE", ""])
    if name in BOUNDS:
        lo, hi = BOUNDS[name]
        return st.sampled_from([lo - 1, lo, hi, hi + 1, -(2**31), 2**63])
    return st.sampled_from([-1, N_FULL - 1, N_FULL, N_ULTRA - 1, N_ULTRA, 10**12])


@st.composite
def tool_calls(draw) -> tuple[str, dict[str, Any]]:
    """A tool and its arguments: each one valid, near the edge, junk, or left out."""
    tool = draw(st.sampled_from(sorted(ARGS)))
    args: dict[str, Any] = {}
    for name in ARGS[tool]:
        kind = draw(st.sampled_from(["valid"] * 12 + ["edge", "edge", "junk", "missing"]))
        if kind == "missing":
            continue
        strategy = {"valid": valid_value(name, args.get("model")), "edge": edge_value(name), "junk": junk}
        args[name] = draw(strategy[kind])
    if draw(st.integers(0, 19)) == 0:
        args[draw(st.text(min_size=1, max_size=8))] = draw(junk)  # an unknown extra argument
    return tool, args


def as_int(value: Any) -> int | None | bool:
    """The integer pydantic will read, None if it will refuse, False if it is hard to say."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        return False  # numeric strings are coerced; not worth modelling
    return None


def expected_ok(tool: str, args: dict[str, Any]) -> bool | None:
    """True: must succeed; False: must fail; None: either is acceptable."""
    if any(name not in args and name in REQUIRED for name in ARGS[tool]):
        return False
    if any(name not in ARGS[tool] for name in args):
        return False  # an unknown argument name (a typo) is refused, never ignored
    if tool in ("list_models", "pair_alignment"):
        return True
    model = args["model"]
    if not isinstance(model, str) or model not in SIZES:
        return False
    unsure = False
    for name in ARGS[tool]:
        if name not in args or name == "model":
            continue
        value = args[name]
        if name == "rank_by":
            if not isinstance(value, str) or value not in RANK_KEYS:
                return False
            continue
        number = as_int(value)
        if number is False:
            unsure = True
            continue
        if number is None:
            return False
        if name in BOUNDS:
            lo, hi = BOUNDS[name]
        else:
            owner = OTHER[model] if name == "target_feature" else model
            lo, hi = 0, SIZES[owner] - 1
        if not lo <= number <= hi:
            return False
    return None if unsure else True


@pytest.fixture(scope="module")
def portal_client(small_matcher):
    server = create_server(small_matcher)
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(Client(server)) as client:
        yield portal, client


def test_random_arguments_never_crash_or_hang(portal_client):
    portal, client = portal_client
    seen = {"ok": 0, "error": 0}

    async def call(tool: str, args: dict[str, Any]):
        with anyio.fail_after(CALL_TIMEOUT_S):
            return await client.call_tool(tool, args)

    @settings(
        max_examples=N_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(tool_calls())
    def check(call_args: tuple[str, dict[str, Any]]) -> None:
        tool, args = call_args
        result = portal.call(call, tool, args)
        want = expected_ok(tool, args)
        if result.is_error:
            assert want is not True, f"{tool}{args} should succeed: {result.content[0].text}"
            assert result.content and result.content[0].text.strip()
            assert "Traceback" not in result.content[0].text
            seen["error"] += 1
        else:
            assert want is not False, f"{tool}{args} should fail, got a result"
            ANSWERS[tool].model_validate(result.structured_content)
            assert len(compact_json(result.structured_content)) <= ANSWER_BUDGET_CHARS
            seen["ok"] += 1

    check()
    print("property examples:", seen)
    assert seen["ok"] + seen["error"] >= N_EXAMPLES
    assert seen["ok"] > N_EXAMPLES // 5 and seen["error"] > N_EXAMPLES // 5, (
        seen
    )  # both paths really exercised
    after = portal.call(call, "find_matches", {"model": "full", "feature": 1})
    assert not after.is_error
    assert after.structured_content["source_feature"] == 1
