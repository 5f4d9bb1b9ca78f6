"""Fault suite, huge declared sizes: estimated and refused before any memory is spent."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodel_matcher.cli import main as cli_main
from crossmodel_matcher.errors import PairFormatError
from crossmodel_matcher.store import memory_budget
from crossmodel_matcher.store.format import load_pair
from tests.test_build_fixtures import make_world, write_npz, write_tokens_jsonl, write_top_table

FULL, ULTRA = make_world()


@pytest.fixture
def inputs(tmp_path):
    write_npz(tmp_path / "full.npz", FULL)
    write_tokens_jsonl(tmp_path / "full.jsonl", FULL)
    write_tokens_jsonl(tmp_path / "ultra.jsonl", ULTRA)
    write_top_table(tmp_path / "ultra.parquet", ULTRA, "parquet")
    c = ULTRA.csr
    for name, width in (("wide31", 2**31), ("wide6", 10**6)):
        np.savez(tmp_path / f"{name}.npz", indptr=c.indptr, indices=c.indices, data=c.data,
                 shape=np.array([c.shape[0], width]))
    return tmp_path


def build(tmp, capsys, ultra: str, *flags: str) -> tuple[int, str, str]:
    code = cli_main(["build", "--quiet", "--out", str(tmp / "pair"), "--model",
                     f"full:acts={tmp / 'full.npz'},tokens={tmp / 'full.jsonl'}", "--model", ultra, *flags])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "MemoryError" not in err
    return code, out, err


@pytest.mark.parametrize(
    ("ultra", "field"),
    [
        ("ultra:top={t}/ultra.parquet,features=1000000000000", "n_features=1,000,000,000,000"),
        ("ultra:acts={t}/wide31.npz,tokens={t}/ultra.jsonl", "wide31.npz: field 'shape'"),
    ],
    ids=["features=10^12", "npz shape 2^31 columns"],
)
def test_huge_declared_widths_are_refused_before_allocating(inputs, capsys, ultra, field):
    ultra = ultra.format(t=inputs)
    code, _, err = build(inputs, capsys, ultra)
    assert code == 2 and field in err and "--allow-unused-width" in err
    # Confirmed as intended, the width then meets the memory budget: field, size, limit.
    code, _, err = build(inputs, capsys, ultra, "--allow-unused-width")
    assert code == 2 and field in err
    assert "would need about" in err and "TB" in err and "over the limit of" in err
    assert not (inputs / "pair").exists()


def test_declared_width_far_beyond_the_data_needs_confirmation(inputs, capsys):
    ultra = f"ultra:acts={inputs}/wide6.npz,tokens={inputs}/ultra.jsonl"
    code, _, err = build(inputs, capsys, ultra)
    assert code == 2 and "declares 1,000,000 features" in err and "largest feature id is 19" in err
    code, _, err = build(inputs, capsys, ultra, "--allow-unused-width", "--memory-limit", "64M")
    assert code == 2 and "over the limit of 64.0 MB (--memory-limit)" in err
    code, out, _ = build(inputs, capsys, ultra, "--allow-unused-width", "--memory-limit", "3G")
    assert code == 0 and "note: " in out and "999,980 features never appear" in out
    assert load_pair(inputs / "pair").models[1].n_features == 10**6


def test_memory_limit_flag_must_be_a_size(inputs, capsys):
    code, _, err = build(inputs, capsys, f"ultra:top={inputs}/ultra.parquet", "--memory-limit", "lots")
    assert code == 2 and err.startswith("error: --memory-limit: memory limit 'lots'")


def test_one_memory_limit_from_option_alias_or_environment(inputs, capsys, monkeypatch):
    """--memory-limit is the one memory setting: refusal limit, block sizing, manifest, info."""
    import json

    ultra = f"ultra:acts={inputs}/wide6.npz,tokens={inputs}/ultra.jsonl"
    # --memory-budget (the earlier name) is a hidden alias: same refusal, one line naming the option.
    code, _, err = build(inputs, capsys, ultra, "--allow-unused-width", "--memory-budget", "64M")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert "over the limit of 64.0 MB (--memory-limit)" in err
    code, _, err = build(inputs, capsys, ultra, "--allow-unused-width", "--memory-budget", "lots")
    assert code == 2 and err.startswith("error: --memory-limit: memory limit 'lots'")
    monkeypatch.setenv(memory_budget.LIMIT_ENV, "64M")
    code, _, err = build(inputs, capsys, ultra, "--allow-unused-width")
    assert code == 2 and f"over the limit of 64.0 MB (${memory_budget.LIMIT_ENV})" in err
    # The option wins over the environment; the value is recorded and `info` shows it.
    code, _, _ = build(inputs, capsys, ultra, "--allow-unused-width", "--memory-budget", "3G")
    assert code == 0
    manifest = json.loads((inputs / "pair" / "pair.json").read_text())
    assert manifest["build_limits"]["memory_limit"] == 3 << 30
    monkeypatch.delenv(memory_budget.LIMIT_ENV)
    assert cli_main(["info", "--pair", str(inputs / "pair")]) == 0
    assert json.loads(capsys.readouterr().out)["build_limits"]["memory_limit"] == 3 << 30


def test_default_memory_limit_is_a_share_of_machine_memory(monkeypatch):
    from crossmodel_matcher.rules import MEMORY_DEFAULT_SHARE
    from crossmodel_matcher.store.limits import BuildLimits

    monkeypatch.delenv(memory_budget.LIMIT_ENV, raising=False)
    monkeypatch.setattr(memory_budget, "machine_memory", lambda: 24 << 30)
    lim = BuildLimits()
    assert lim.memory_limit == int((24 << 30) * MEMORY_DEFAULT_SHARE) and "machine" in lim.memory_source
    assert lim.block_size() == 256 << 20  # 1/48 of 12 GB: what the scale benchmarks measured
    monkeypatch.setenv(memory_budget.LIMIT_ENV, "2G")
    assert BuildLimits().memory_limit == 2 << 30


def test_a_pair_over_the_budget_is_refused_on_load(tiny_pair_dir, monkeypatch):
    monkeypatch.setenv(memory_budget.LIMIT_ENV, "100")
    with pytest.raises(PairFormatError, match=r"models\[1\].n_features.*over the limit of 100 B.*raise the limit with \$CROSSMODEL"):
        load_pair(tiny_pair_dir)


def test_sizes_parse():
    assert memory_budget.parse_size("8G") == 8 << 30
    assert memory_budget.parse_size("1.5 GiB") == int(1.5 * (1 << 30))
    assert memory_budget.parse_size("123") == 123
    with pytest.raises(ValueError):
        memory_budget.parse_size("-1G")
