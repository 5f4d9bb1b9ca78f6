"""Vocabulary files, and tokens read against a file's own vocabulary mapped onto the shared one.

Every reader hands over its tokens as `LocalTokens`: token rows whose ids index that input's
own vocabulary (the distinct strings of a table, or a vocab file's ids). Once all inputs are
read, one shared vocabulary is fixed (the `--vocab` file plus weapon tokens, or the union of
the strings seen) and every input is mapped onto it, failing loudly on tokens it lacks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossmodel_matcher.errors import InputError
from crossmodel_matcher.store.derive import TokenRows

KEY_SEPARATOR = "|"
"""Derived example key: the example's token strings, sorted, joined by this separator."""


@dataclass
class IdVocab:
    """A vocabulary file read as id -> token (None where an id is unused)."""

    tokens: list[str | None]
    origin: str

    def __len__(self) -> int:
        return len(self.tokens)


def read_id_vocab(path: str | Path) -> IdVocab:
    """A JSON list of tokens (id = position) or a flat {token: id} object (SplatNLP's vocab.json)."""
    path = Path(path)
    data = _read_json(path)
    if isinstance(data, list):
        if not all(isinstance(t, str) for t in data):
            raise InputError(f"{path}: a list vocabulary must hold token strings only")
        if len(set(data)) != len(data):
            dup = next(t for t in data if data.count(t) > 1)
            raise InputError(f"{path}: token {dup!r} is listed twice; tokens must be unique")
        return IdVocab(list(data), str(path))
    if isinstance(data, dict):
        bad = [k for k, v in data.items() if isinstance(v, bool) or not isinstance(v, int) or v < 0]
        if bad:
            raise InputError(
                f"{path}: token {bad[0]!r} has id {data[bad[0]]!r}; ids must be non-negative integers"
            )
        ids = list(data.values())
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InputError(f"{path}: id {dup} is given to two tokens; ids must be unique")
        if ids and max(ids) > 10 * len(ids) + 1000:
            raise InputError(f"{path}: ids reach {max(ids)} for {len(ids)} tokens; use compact ids")
        tokens: list[str | None] = [None] * (max(ids) + 1 if ids else 0)
        for tok, i in data.items():
            tokens[i] = tok
        return IdVocab(tokens, str(path))
    raise InputError(f"{path}: a vocabulary must be a JSON list of tokens or a {{token: id}} object")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc}); check the file is complete") from None


@dataclass
class LocalTokens:
    """Token rows over an input's own vocabulary (`vocab[i]` is the string of id i)."""

    rows: TokenRows
    vocab: list[str | None]
    origin: str  # "file, field 'x'", used in error messages

    @classmethod
    def from_strings(cls, lengths: np.ndarray, flat: np.ndarray, origin: str) -> LocalTokens:
        """Rows given as their lengths and all their token strings, concatenated."""
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        if not len(flat):
            return cls(TokenRows(indptr, np.zeros(0, dtype=np.int32)), [], origin)
        uniq, inverse = np.unique(np.asarray(flat, dtype=str), return_inverse=True)
        return cls(TokenRows(indptr, inverse.astype(np.int32)), uniq.tolist(), origin)

    @classmethod
    def from_ids(cls, lengths: np.ndarray, ids: np.ndarray, vocab: IdVocab, origin: str) -> LocalTokens:
        """Rows given as their lengths and all their token ids (ids of `vocab`), concatenated."""
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        ids = np.asarray(ids)
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= len(vocab)):
            bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
            raise InputError(
                f"{origin}: token id {bad} is outside {vocab.origin} (ids 0..{len(vocab) - 1}); "
                "give the vocabulary these ids were made with"
            )
        return cls(TokenRows(indptr, ids.astype(np.int32)), vocab.tokens, origin)

    def used_tokens(self) -> set[str]:
        used = np.unique(self.rows.indices)
        missing = [int(i) for i in used if self.vocab[i] is None]
        if missing:
            raise InputError(f"{self.origin}: token id {missing[0]} has no token in its vocabulary file")
        return {self.vocab[i] for i in used}


def shared_vocabulary(
    vocab: IdVocab | None, weapon_vocab: IdVocab | None, inputs: list[LocalTokens]
) -> list[str]:
    """The pair's vocabulary: the vocab file (id order) plus weapon tokens, else the sorted union."""
    if vocab is None and weapon_vocab is None:
        seen: set[str] = set()
        for tokens in inputs:
            seen |= tokens.used_tokens()
        return sorted(seen)
    out = [t for t in (vocab.tokens if vocab else []) if t is not None]
    have = set(out)
    out += [t for t in (weapon_vocab.tokens if weapon_vocab else []) if t is not None and t not in have]
    return out


def to_shared(tokens: LocalTokens, shared_index: dict[str, int], vocab_origin: str) -> TokenRows:
    """`tokens` re-indexed onto the shared vocabulary; every token must be in it."""
    lookup = np.array(
        [shared_index.get(t, -1) if t is not None else -1 for t in tokens.vocab], dtype=np.int64
    )
    if not len(tokens.rows.indices):
        return TokenRows(tokens.rows.indptr, tokens.rows.indices.astype(np.int32))
    mapped = lookup[tokens.rows.indices]
    if np.any(mapped < 0):
        bad_ids = np.unique(tokens.rows.indices[mapped < 0])
        names = [repr(tokens.vocab[i]) if tokens.vocab[i] is not None else f"id {i}" for i in bad_ids[:5]]
        raise InputError(
            f"{tokens.origin}: {len(bad_ids)} token(s) missing from the shared vocabulary "
            f"({vocab_origin}), e.g. {', '.join(names)}; use the vocabulary the data was made with "
            "(for SplatNLP: its vocab.json and weapon_vocab.json)"
        )
    return TokenRows(tokens.rows.indptr, mapped.astype(np.int32))


def derive_keys(rows: TokenRows, vocab: list[str]) -> np.ndarray:
    """One key per example: its token strings, sorted, joined by '|' (SplatNLP's build key),
    as UTF-8 bytes (numpy "S": a quarter of numpy's unicode strings; sorts as the text)."""
    if len(rows) == 0:
        return np.zeros(0, dtype="S1")
    names = np.asarray(vocab, dtype=object)
    rank = np.empty(len(vocab), dtype=np.int64)
    rank[np.argsort(np.asarray(vocab, dtype=str), kind="stable")] = np.arange(len(vocab))
    row_of = np.repeat(np.arange(len(rows)), np.diff(rows.indptr))
    order = np.lexsort((rank[rows.indices], row_of))
    strings = names[rows.indices[order]].tolist()
    ptr = rows.indptr.tolist()
    return np.asarray(
        [KEY_SEPARATOR.join(strings[a:b]).encode() for a, b in zip(ptr[:-1], ptr[1:])], dtype=bytes
    )


def key_digests(keys: np.ndarray) -> np.ndarray:
    """128-bit BLAKE2b digest of each key's UTF-8 text, as numpy "S16": equal keys, equal
    digests (two different keys collide with probability ~n^2 / 2^129), at 16 bytes a key
    whatever its length. Builds from files align by these, so 843K keys hold 13 MB, not 330."""
    return np.array(
        [hashlib.blake2b(k if isinstance(k, bytes) else str(k).encode(), digest_size=16).digest() for k in keys],
        dtype="S16",
    )
