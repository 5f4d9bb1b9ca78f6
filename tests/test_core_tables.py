"""Token tables, the pair format and determinism."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from crossmodel_matcher.store.derive import TokenRows, TopExamples, build_token_tables, token_base_rates
from crossmodel_matcher.store.format import PairFormatError, load_pair

from .conftest import build_tiny_pair


def original_top_tokens(rows: list[tuple[float, list[str]]]) -> list[str]:
    """The original definition, written the original way (sorted, top 10%, Counter)."""
    data = sorted(rows, key=lambda r: r[0], reverse=True)[:1000]
    counter: Counter = Counter()
    for _, tokens in data[: max(1, len(data) // 10)]:
        for t in tokens:
            if t and not t.startswith("<"):
                counter[t] += 1
    return [t for t, _ in counter.most_common(50)]


def test_original_top_tokens_exact_against_counter():
    rng = np.random.default_rng(7)
    vocab = ["<MASK>", "<NULL>"] + [f"t{i}" for i in range(120)]
    feature_ids, acts, rows = [], [], []
    for f in range(6):
        for _ in range(int(rng.integers(1, 1300))):  # up to 1,300 rows: the 1,000 cap applies
            feature_ids.append(f)
            acts.append(float(rng.choice([0.5, 1.0, 1.5, 2.0])))  # many ties, stable order
            rows.append(rng.choice(len(vocab), size=int(rng.integers(1, 9)), replace=False).tolist())
    top = TopExamples(np.array(feature_ids), np.array(acts, dtype=np.float32), TokenRows.from_lists(rows))
    tables = build_token_tables(top, 6, vocab, token_base_rates(top.tokens, len(vocab)))
    for f in range(6):
        mine = [vocab[t] for t in tables.top_token_ids[f] if t >= 0]
        ref = original_top_tokens(
            [(a, [vocab[t] for t in r]) for fid, a, r in zip(feature_ids, acts, rows) if fid == f]
        )
        assert mine == ref, f"feature {f}"
        assert not any(t.startswith("<") for t in mine)


def test_lift_weights_discount_common_tokens():
    vocab = ["common", "rare", "other"]
    # Every example has "common"; the feature's top rows all hold "rare" too.
    rows = [[0, 1]] * 5 + [[0, 2]] * 95
    all_tokens = TokenRows.from_lists(rows)
    top = TopExamples(np.zeros(5, dtype=np.int32), np.ones(5, dtype=np.float32), TokenRows.from_lists(rows[:5]))
    tables = build_token_tables(top, 1, vocab, token_base_rates(all_tokens, 3))
    assert tables.token_weights[0, 0] == 0.0  # at its base rate: no lift
    assert tables.token_weights[0, 1] == pytest.approx(1.0 * np.log(1 / 0.05))


def test_rebuild_is_byte_identical(tmp_path, tiny_pair_dir):
    other = tmp_path / "again"
    build_tiny_pair(other)
    files = sorted(p.relative_to(tiny_pair_dir) for p in tiny_pair_dir.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
    for rel in files:
        assert (tiny_pair_dir / rel).read_bytes() == (other / rel).read_bytes(), rel


def test_rebuild_replaces_atomically(tmp_path):
    out = tmp_path / "pair"
    build_tiny_pair(out)
    build_tiny_pair(out)  # over an existing pair: renamed into place, no leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pair"]
    assert load_pair(out).n_aligned == 300


def test_load_refuses_other_format_version(tmp_path):
    out = tmp_path / "pair"
    build_tiny_pair(out)
    manifest = json.loads((out / "pair.json").read_text())
    manifest["format_version"] = 99
    (out / "pair.json").write_text(json.dumps(manifest))
    with pytest.raises(PairFormatError, match="format_version"):
        load_pair(out)


def test_load_names_a_truncated_array(tmp_path):
    out = tmp_path / "pair"
    build_tiny_pair(out)
    path = out / "models" / "wide" / "token_weights.npy"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(PairFormatError, match="token_weights.npy"):
        load_pair(out)


def test_load_names_a_missing_manifest(tmp_path):
    with pytest.raises(PairFormatError, match="pair.json"):
        load_pair(tmp_path)


def test_alignment_is_by_key_not_row(tiny):
    # The wide model stores its rows in reverse order; correlation is still computed on
    # matching examples, so narrow 0 and wide 0 correlate strongly.
    assert tiny.compare_features("narrow", 0, 0).evidence.activation_correlation > 0.9
