"""The streamed build: both models' activations read once each, in blocks, in bounded memory.

1. Examples align by key (sorted key order, a repeated key aligns its first row). A sample of
   the aligned examples (`limits.BuildLimits.sample_examples`, chosen by hash of key) keeps
   its per-example activations for find_decomposition.
2. The narrow model streams first: per-feature stats, running top examples, moments over the
   aligned examples, its sample rows, and its aligned rows written to disk (`HeldRows`).
3. The wide model streams next, the same per block, and each block's aligned rows meet the
   narrow model's same rows (gathered from disk) in `BlockedCross`, which accumulates the
   all-pairs sums. Memory holds one block (plus one read ahead), the totals and the sample.
4. Partial sums are checkpointed after the narrow model and at most every
   `checkpoint_seconds` while the wide model streams, so a killed build resumes.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from crossmodel_matcher.errors import InputError
from crossmodel_matcher.progress import progress_bar
from crossmodel_matcher.rules import READ_AHEAD
from crossmodel_matcher.store.activation_stream import align_first_rows
from crossmodel_matcher.store.checkpoint import Checkpoint, HeldRows
from crossmodel_matcher.store.cleanup import make_spill_dir
from crossmodel_matcher.store.cross_stats import BlockedCross
from crossmodel_matcher.store.limits import BuildLimits
from crossmodel_matcher.store.sources import ModelSource, stream_of
from crossmodel_matcher.store.stream_pass import ModelPass, ModelReduction


@dataclass
class StreamedPair:
    reductions: tuple[ModelReduction | None, ModelReduction | None]
    n_aligned: int
    n_sample: int
    cross: tuple[np.ndarray, np.ndarray] | None
    summary: dict


def key_hashes(keys: np.ndarray) -> np.ndarray:
    """64-bit BLAKE2b of each example key (its UTF-8 text), as uint64."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(_utf8(k), digest_size=8).digest(), "little") for k in keys),
        dtype=np.uint64,
        count=len(keys),
    )


def _utf8(key) -> bytes:
    return bytes(key) if isinstance(key, bytes) else str(key).encode()


def sample_positions(aligned_keys: np.ndarray, size: int) -> np.ndarray:
    """Aligned indices of the `size` examples with the smallest key hash, ascending."""
    n = len(aligned_keys)
    if size >= n:
        return np.arange(n, dtype=np.int64)
    h = key_hashes(aligned_keys)
    order = np.lexsort((np.arange(n), h))[:size]
    return np.sort(order).astype(np.int64)


def _prefetch(it: Iterator, depth: int = READ_AHEAD) -> Iterator:
    """Items of `it` produced by a reader thread `depth` ahead (reading overlaps computing)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    t = threading.Thread(target=work, daemon=True, name="block-reader")
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _blocks(stream, start: int, stop: int, block_bytes: int) -> Iterator[tuple[int, object]]:
    """(row0, block) over rows [start, stop); dense blocks when the stream offers them."""
    if hasattr(stream, "dense_blocks"):
        it = stream.dense_blocks(start, block_bytes)
    else:
        it = stream.blocks()
    expected = 0 if not hasattr(stream, "dense_blocks") else None
    for row0, blk in it:
        n = blk.shape[0]
        if expected is not None and row0 != expected:
            raise InputError(f"{stream.origin}: block at row {row0} does not continue at row {expected}")
        if expected is not None:
            expected = row0 + n
        if row0 + n <= start:
            continue
        if row0 >= stop:
            break
        lo, hi = max(0, start - row0), min(n, stop - row0)
        if lo or hi < n:
            blk, row0 = blk[lo:hi], row0 + lo
        yield row0, blk


def _fingerprint(sources, n_rows, rows, sample_size: int) -> str:
    h = hashlib.sha256()
    for src, n in zip(sources, n_rows):
        s = stream_of(src)
        h.update(json.dumps([src.name, src.origin, n, None if s is None else s.n_features]).encode())
    for r in rows:
        h.update(np.ascontiguousarray(r, dtype=np.int64).tobytes())
    h.update(str(sample_size).encode())
    return h.hexdigest()


class _Run:
    """One streamed build: alignment, the two passes, checkpoints."""

    def __init__(self, sources, limits: BuildLimits, say, progress: bool):
        self.sources, self.limits, self.say, self.progress = sources, limits, say, progress
        self.streams = [stream_of(s) for s in sources]
        lim = limits.max_examples
        self.n_rows = [
            0 if s is None else (s.n_examples if lim is None else min(lim, s.n_examples)) for s in self.streams
        ]
        self.both = all(s is not None for s in self.streams)
        self.order = [0, 1] if self.streams[0] is not None else [1, 0]  # a streamed model first
        if self.both and self.streams[1].n_features < self.streams[0].n_features:
            self.order = [1, 0]  # the narrow model streams first and is held on disk
        self.t0 = time.perf_counter()

    def align(self) -> None:
        self.positions: list[np.ndarray | None] = [None, None]
        self.n_aligned, self.sample_pos = 0, np.zeros(0, dtype=np.int64)
        rows = []
        if self.both:
            ka = np.asarray(self.sources[0].example_keys)[: self.n_rows[0]]
            kb = np.asarray(self.sources[1].example_keys)[: self.n_rows[1]]
            ra, rb = align_first_rows(ka, kb)
            if len(ra) == 0:
                raise InputError(
                    f"{self.sources[0].origin} / {self.sources[1].origin}: no example key is shared by "
                    "the two models, so activations cannot be aligned; check that both use one key scheme"
                )
            self.n_aligned = len(ra)
            for i, r in enumerate((ra, rb)):
                pos = np.full(self.n_rows[i], -1, dtype=np.int64)
                pos[r] = np.arange(len(r))
                self.positions[i] = pos
            self.sample_pos = sample_positions(ka[ra], self.limits.sample_examples)
            rows = [ra, rb]
            self.say(f"aligned {self.n_aligned:,} examples by key; sample of {len(self.sample_pos):,}")
        self.sample_rank = np.full(self.n_aligned, -1, dtype=np.int64)
        self.sample_rank[self.sample_pos] = np.arange(len(self.sample_pos))
        self.fp = _fingerprint(self.sources, self.n_rows, rows, self.limits.sample_examples)

    def run(self) -> StreamedPair:
        self.align()
        state = self.limits.state_dir
        tmp = state is None
        if tmp:  # in a spill folder: removed below, or by remove_stale if this process dies
            state = make_spill_dir() / "s"
        ck = Checkpoint(state, self.fp)
        try:
            return self._passes(ck)
        finally:
            if tmp:
                import shutil

                shutil.rmtree(state.parent, ignore_errors=True)

    def _pass(self, i: int, held: HeldRows | None, role: str, cross: BlockedCross | None) -> ModelPass:
        pos = self.positions[i]
        return ModelPass(self.sources[i], self.streams[i], self.n_rows[i], pos, self.sample_rank, held, role, cross)

    def _passes(self, ck: Checkpoint) -> StreamedPair:
        first, second = self.order
        saved = ck.load()
        if ck.folder.exists() and saved is None:
            ck.clear()  # state of another build (other inputs or options): start afresh
        held = None
        if self.both:
            fa = self.streams[first].n_features
            held = HeldRows(ck.folder, self.n_aligned, fa)
        p1 = self._pass(first, held, "held" if self.both else "alone", None)
        stage = saved[0]["stage"] if saved else None
        if stage in ("held", "second") and (held is None or held.load()):
            p1.restore(saved[1], "p1_")
            self.say(f"{self.sources[first].name}: resumed from the checkpoint in {ck.folder}")
        else:
            stage = None
            if held is not None:
                held.start()
            self._stream(p1, 0, None)
            if held is not None:
                held.finish()
            ck.save({"stage": "held"}, p1.state("p1_"))
        cross, p2 = None, None
        if self.streams[second] is not None:
            cross = None
            if self.both:  # rows: the held (narrow) model's features; columns: the streamed one's
                n_held, n_streamed = self.streams[first].n_features, self.streams[second].n_features
                cross = BlockedCross(n_held, n_streamed, self.limits.device)
            p2 = self._pass(second, held, "streamed" if self.both else "alone", cross)
            start = 0
            if stage == "second":
                meta, arrays = saved
                start = p2.restore(arrays, "p2_")
                if cross is not None:
                    cross.restore({"sum_prod": arrays["x_sum_prod"], "cofire": arrays["x_cofire"]},
                                  meta.get("costs"), int(meta.get("cross_rows", 0)))
                self.say(f"{self.sources[second].name}: resuming at row {start:,} of {self.n_rows[second]:,}")
            self._stream(p2, start, (ck, p1, cross))
            if start < p2.n_rows:  # killed after this, a rerun goes straight to the tables
                self._checkpoint((ck, p1, cross), p2)
        return self._result(p1, p2, cross, first, second)

    def _stream(self, p: ModelPass, start: int, saving) -> None:
        s = p.stream
        bar = progress_bar(f"{p.src.name}: activations", p.n_rows, "ex", enabled=self.progress)
        bar.initial = bar.n = start  # a resumed build: the rate and ETA count this run's rows
        if not sys.stderr.isatty():
            bar.mininterval = 30.0  # a log gets a line every 30 s, not ten a second
        last = time.perf_counter()
        try:
            for row0, blk in _prefetch(_blocks(s, start, p.n_rows, self.limits.block_size())):
                p.add(row0, blk)
                bar.update(blk.shape[0])
                if saving is not None and time.perf_counter() - last >= self.limits.checkpoint_seconds:
                    self._checkpoint(saving, p)
                    last = time.perf_counter()
        finally:
            bar.close()
        if p.rows_done != p.n_rows:
            raise InputError(f"{s.origin}: {p.rows_done} activation rows read, {p.n_rows} expected")

    def _checkpoint(self, saving, p2: ModelPass) -> None:
        ck, p1, cross = saving
        arrays = {**p1.state("p1_"), **p2.state("p2_")}
        meta = {"stage": "second", "rows": p2.rows_done}
        if cross is not None:
            x = cross.state()
            arrays.update({"x_sum_prod": x["sum_prod"], "x_cofire": x["cofire"]})
            meta.update(costs=None if cross.costs is None else cross.costs.as_dict(), cross_rows=cross.rows_done)
        ck.save(meta, arrays)

    def _result(self, p1, p2, cross, first, second) -> StreamedPair:
        reds: list[ModelReduction | None] = [None, None]
        n_sample = len(self.sample_pos)
        reds[first] = p1.reduction(n_sample)
        if p2 is not None:
            reds[second] = p2.reduction(n_sample)
        out = cross.result() if cross is not None else None
        if out is not None and first == 1:  # held model is b: totals are [F_b, F_a]
            out = (np.ascontiguousarray(out[0].T), np.ascontiguousarray(out[1].T))
        seconds = time.perf_counter() - self.t0
        summary = {
            "seconds": round(seconds, 3),
            "examples": self.n_rows,
            "cross": None if cross is None else cross.summary(),
        }
        return StreamedPair((reds[0], reds[1]), self.n_aligned, n_sample, out, summary)


def stream_pair(
    source_a: ModelSource,
    source_b: ModelSource,
    limits: BuildLimits,
    say: Callable[[str], None],
    progress: bool = True,
) -> StreamedPair:
    """Reduce both models' activations (see the module docstring)."""
    return _Run((source_a, source_b), limits, say, progress).run()
