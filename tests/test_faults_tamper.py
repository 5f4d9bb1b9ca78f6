"""Fault suite, tampering: every damaged copy of a pair is refused with one clear line (exit 2),
or, for the derived alignment cache, loads with a warning and the cache is rebuilt."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from crossmodel_matcher.cli import main as cli_main
from crossmodel_matcher.errors import PairFormatError
from crossmodel_matcher.matcher.alignment_cache import CACHE_NAME
from crossmodel_matcher.pair_source import open_pair
from crossmodel_matcher.store.format import load_pair
from tests.fault_cases import cases, sampled_cases

CASES = cases("narrow", "wide")
SAMPLED_CASES = sampled_cases("full", "ultra")  # on `sampled_pair_dir`: a streamed build keeping a sample


@pytest.fixture
def copy_of(tiny_pair_dir, tmp_path):
    def make():
        root = tmp_path / "pair"
        shutil.copytree(tiny_pair_dir, root)
        return root

    return make


def run_info(root, capsys, verify: bool) -> tuple[int, str]:
    code = cli_main(["info", "--pair", str(root), *(["--verify"] if verify else [])])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", [c for c in CASES if c.expect], ids=lambda c: c.name)
def test_tampered_pair_is_refused_in_one_line(case, copy_of, capsys):
    root = copy_of()
    case.apply(root)
    for verify in (False, True):
        code, err = run_info(root, capsys, verify)
        assert "Traceback" not in err
        assert code == 2, f"accepted silently (verify={verify}): {err}"
        line = err.strip()
        assert line.startswith("error: ") and "\n" not in line, err
        for text in case.expect:
            assert text in line, f"{text!r} not in: {line}"


@pytest.mark.parametrize("case", SAMPLED_CASES, ids=lambda c: c.name)
def test_tampered_sampled_pair_is_refused_in_one_line(case, sampled_pair_dir, tmp_path, capsys):
    root = tmp_path / "pair"
    shutil.copytree(sampled_pair_dir, root)
    assert run_info(root, capsys, False)[0] == 0  # intact: opens
    case.apply(root)
    code, err = run_info(root, capsys, False)
    assert "Traceback" not in err
    assert code == 2, f"accepted silently: {err}"
    line = err.strip()
    assert line.startswith("error: ") and "\n" not in line, err
    for text in case.expect:
        assert text in line, f"{text!r} not in: {line}"


@pytest.mark.parametrize("case", [c for c in CASES if not c.expect], ids=lambda c: c.name)
def test_damaged_derived_cache_is_rebuilt_with_a_warning(case, copy_of, tiny_pair_dir, caplog):
    root = copy_of()
    case.apply(root)
    with caplog.at_level(logging.WARNING, logger="crossmodel_matcher"):
        rebuilt = open_pair(root)
    assert any("fails its check" in r.getMessage() and "rebuilding" in r.getMessage() for r in caplog.records)
    assert rebuilt.alignment.data == open_pair(tiny_pair_dir).alignment.data
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="crossmodel_matcher"):
        open_pair(root)  # the rewritten cache now passes
    assert not caplog.records
    assert json.loads((root / CACHE_NAME).read_text())["data"] == rebuilt.alignment.data


@pytest.mark.parametrize(
    "name",
    [
        "manifest: n_features is 'abc'",
        "manifest: model entry without name",
        "manifest: 'files' removed",
        "manifest: a list, not an object",
        "labels.json: malformed JSON",
    ],
)
def test_serve_refuses_what_used_to_crash_it(name, copy_of, capsys):
    root = copy_of()
    next(c for c in CASES if c.name == name).apply(root)
    code = cli_main(["serve", "--pair", str(root)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().startswith("crossmodel-matcher serve: error: ") and "\n" not in err.strip()


def test_every_array_value_check_is_exercised():
    """Each array a pair stores has at least one tamper case aimed at its values or shape."""
    from crossmodel_matcher.store.array_checks import MOMENT_ARRAYS, SPECS

    named = " ".join(c.name for c in CASES)
    missing = [k for k in SPECS if k not in ("decoder", *MOMENT_ARRAYS) and k not in named.replace("cross/", "")]
    sampled = " ".join(c.name for c in SAMPLED_CASES)
    missing += [k for k in (*MOMENT_ARRAYS, "act_data", "act_indices", "act_indptr") if k not in sampled]
    assert missing == []


def test_verify_rehashes_large_files_the_start_check_skips(copy_of, monkeypatch):
    from crossmodel_matcher.store import checksums

    root = copy_of()
    next(c for c in CASES if c.name == "cross/cofire.npy: one byte flipped").apply(root)
    monkeypatch.setattr(checksums, "QUICK_HASH_MAX_BYTES", 0)
    import crossmodel_matcher.store.format as fmt

    monkeypatch.setattr(fmt, "QUICK_HASH_MAX_BYTES", 0)
    load_pair(root)  # the fast check sees a plausible value of the right size
    with pytest.raises(PairFormatError, match="cofire.npy: checksum mismatch"):
        load_pair(root, verify=True)


def test_interrupted_two_rename_swap_is_recovered_on_load(tiny_pair_dir, tmp_path):
    out = tmp_path / "pair"
    shutil.copytree(tiny_pair_dir, tmp_path / ".pair.old-999999999")  # no such pid: a dead writer
    assert load_pair(out).models[0].name == "narrow"
    assert out.is_dir() and not (tmp_path / ".pair.old-999999999").exists()


def test_npz_caches_are_bound_to_their_pair_and_checksummed(tmp_path, caplog):
    import numpy as np

    from crossmodel_matcher.matcher import cache_files

    path = tmp_path / "cache" / "x.npz"
    cache_files.write(path, {"ids": np.arange(6).reshape(2, 3)}, "pair-a")
    assert cache_files.read(path, "pair-a")["ids"].tolist() == [[0, 1, 2], [3, 4, 5]]
    with caplog.at_level(logging.WARNING, logger="crossmodel_matcher"):
        assert cache_files.read(path, "pair-b") is None
        with np.load(path) as z:  # a readable archive whose data no longer match its checksum
            arrays = {k: z[k] for k in z.files}
        arrays["ids"] = arrays["ids"] + 1
        np.savez(path.with_suffix(""), **arrays)
        assert cache_files.read(path, "pair-a") is None
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "computed for another pair" in messages and "checksum mismatch" in messages
