"""Concepts of the demo (predicates over builds), how they are drawn distinct from one another,
split into children, and turned into feature activations."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.demo.builds import (
    FAMILIES,
    MAIN_ONLY,
    N_CLASSES,
    N_LATENT,
    NESTED,
    RUNGS,
    WEAPONS_PER_CLASS,
    WIDE_ONLY_CLASSES,
    WIDE_ONLY_FAMILIES,
    WIDE_ONLY_MAINS,
    Atom,
    Builds,
    atom_domain,
    atom_mask,
    atom_text,
)


@dataclass
class Concept:
    atoms: tuple[Atom, ...]
    mask: np.ndarray
    bits: np.ndarray | None = None  # the mask bit-packed, when the sampler made it

    @property
    def text(self) -> str:
        return " & ".join(atom_text(a) for a in self.atoms)

    @property
    def domains(self) -> set:
        return {atom_domain(a) for a in self.atoms}


def atom_set(families, mains, classes, fine: bool = False) -> list[Atom]:
    """Atoms over the given families, main abilities and weapon classes."""
    out: list[Atom] = [("ge", f, r) for f in families for r in range(len(RUNGS))]
    out += [("main", m) for m in mains] + [("class", c) for c in classes]
    if fine:
        out += [("eq", f, r) for f in families for r in range(len(RUNGS))]
        out += [("weapon", c * WEAPONS_PER_CLASS + j) for c in classes for j in range(WEAPONS_PER_CLASS)]
    return out


def _rest(n: int, reserved: tuple) -> tuple:
    return tuple(i for i in range(n) if i not in reserved)


SHARED_ATOMS = dict(
    families=_rest(len(FAMILIES), WIDE_ONLY_FAMILIES),
    mains=_rest(len(MAIN_ONLY), WIDE_ONLY_MAINS),
    classes=_rest(N_CLASSES, WIDE_ONLY_CLASSES),
)


LATENT_CUTS = (0.3, 0.45, 0.6, 0.75, 0.9, 1.0)


@dataclass
class ConceptSampler:
    """Random conjunctions of 1-3 atoms about different things, with support in a range.

    Works on bit-packed masks (64 builds a word), so a try costs microseconds.
    """

    builds: Builds
    rng: np.random.Generator
    atoms: list[Atom]
    sizes: tuple[float, float, float] = (0.15, 0.65, 0.2)  # P(1, 2, 3 atoms)
    used: set = field(default_factory=set)
    latent: np.ndarray | None = None  # hidden per-build variables [n, N_LATENT]
    p_latent: float = 0.0  # chance that a concept is also cut by one hidden variable

    def __post_init__(self) -> None:
        self.n = len(self.builds.keys)
        self.packed = np.stack([pack_mask(atom_mask(self.builds, a)) for a in self.atoms])
        self.domains = [atom_domain(a) for a in self.atoms]
        self.cuts = {}
        if self.latent is not None:
            for dim in range(self.latent.shape[1]):
                for sign in (1, -1):
                    for t in LATENT_CUTS:
                        self.cuts[(dim, sign, t)] = pack_mask(self.latent[:, dim] * sign > t)

    def sample(self, lo: float, hi: float, tries: int = 400) -> Concept | None:
        rng, n_atoms = self.rng, len(self.atoms)
        ks = rng.choice(3, size=tries, p=self.sizes) + 1
        picks = rng.integers(n_atoms, size=(tries, 3))
        use_latent = rng.random(tries) < self.p_latent
        dims = rng.integers(max(1, N_LATENT), size=tries)
        signs = rng.choice((1, -1), size=tries)
        cut_t = rng.choice(LATENT_CUTS, size=tries)
        for t in range(tries):
            idx = sorted(set(picks[t, : ks[t]].tolist()))
            if len(idx) < ks[t] or len({self.domains[i] for i in idx}) < ks[t]:
                continue
            key = tuple(self.atoms[i] for i in idx)
            bits = self.packed[idx[0]]
            for i in idx[1:]:
                bits = bits & self.packed[i]
            if self.latent is not None and use_latent[t]:
                cut = (int(dims[t]), int(signs[t]), float(cut_t[t]))
                key = key + (("latent", cut[0] * 2 + (cut[1] > 0)),)
                bits = bits & self.cuts[cut]
            if key in self.used:
                continue
            size = int(np.bitwise_count(bits).sum())
            if lo * self.n <= size <= hi * self.n:
                self.used.add(key)
                return Concept(key, unpack_mask(bits, self.n), bits)
        return None


def pack_mask(mask: np.ndarray) -> np.ndarray:
    """A boolean mask as uint64 words (little-endian bit order, zero padded)."""
    padded = np.zeros(((len(mask) + 63) // 64) * 64, dtype=bool)
    padded[: len(mask)] = mask
    return np.packbits(padded, bitorder="little").view(np.uint64)


def unpack_mask(bits: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(bits.view(np.uint8), count=n, bitorder="little").astype(bool)


def enumerate_concepts(
    b: Builds, atoms: list[Atom], lo: float, hi: float, sizes: tuple[int, ...] = (1, 2, 3)
) -> list[Concept]:
    """Every distinct conjunction of atoms about different things with support in range."""
    from itertools import combinations

    n = len(b.keys)
    packed = {a: np.packbits(atom_mask(b, a)) for a in atoms}
    seen: set[bytes] = set()
    out: list[Concept] = []
    for k in sizes:
        for combo in combinations(atoms, k):
            if len({atom_domain(a) for a in combo}) < k:
                continue
            bits = packed[combo[0]]
            for a in combo[1:]:
                bits = bits & packed[a]
            size = int(np.bitwise_count(bits).sum())
            if not lo * n <= size <= hi * n:
                continue
            digest = bits.tobytes()
            if digest in seen:
                continue
            seen.add(digest)
            out.append(Concept(tuple(combo), np.unpackbits(bits, count=n).astype(bool)))
    return out


def split_children(b: Builds, parent: Concept, rng: np.random.Generator, k: int, min_n: int):
    """Partition a concept into k refinements by one more variable (class, rung or main)."""
    fam_atoms = [a for a in parent.atoms if a[0] == "ge"]
    options = ["class", "main"] + (["rung"] if fam_atoms else [])
    for choice in rng.permutation(options):
        if choice == "class":
            values = [("class", c) for c in range(N_CLASSES)]
        elif choice == "main":
            values = [("main", m) for m in range(len(MAIN_ONLY))]
        else:
            fam, r0 = fam_atoms[0][1], fam_atoms[0][2]
            values = [("eq", fam, r) for r in range(r0, len(RUNGS))]
        if choice == "main":  # builds without the main ability form one more value
            masks = [parent.mask & atom_mask(b, v) for v in values]
            masks.append(parent.mask & ~b.mains.any(axis=1))
            values.append(("main", -1))
        else:
            masks = [parent.mask & atom_mask(b, v) for v in values]
        sizes = np.array([m.sum() for m in masks])
        order = [i for i in np.argsort(-sizes, kind="stable") if sizes[i] >= min_n]
        if len(order) < 2:
            continue
        kk = min(k, len(order))
        head, tail = order[: kk - 1], order[kk - 1:]
        children = [Concept(parent.atoms + (values[i],), masks[i]) for i in head]
        rest = np.zeros_like(parent.mask)
        for i in tail:
            rest |= masks[i]
        label = values[tail[0]] if len(tail) == 1 else ("rest", choice)
        children.append(Concept(parent.atoms + (label,), rest))
        return children
    return None


# ---- activations -------------------------------------------------------------------------
@dataclass
class FeatureSpec:
    concept_mask: np.ndarray | None  # None = dead
    scale: float
    dropout: float
    noise_rate: float  # spurious firings per example, plus ~10% of the concept's size
    silence: np.ndarray | None = None  # examples where it stays silent (absorption)


def activations(specs: list[FeatureSpec], n: int, rng: np.random.Generator) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for j, s in enumerate(specs):
        if s.concept_mask is None:
            continue
        on = s.concept_mask.copy()
        if s.silence is not None:
            on &= ~s.silence
        idx = np.flatnonzero(on)
        idx = idx[rng.random(len(idx)) >= s.dropout]
        v = s.scale * rng.lognormal(0.0, 0.35, size=len(idx))
        n_noise = min(n, rng.binomial(n, s.noise_rate) + rng.binomial(len(idx), 0.1))
        noise_idx = rng.choice(n, size=n_noise, replace=False)
        noise_idx = noise_idx[~np.isin(noise_idx, idx)]
        nv = s.scale * 0.25 * rng.lognormal(0.0, 0.5, size=len(noise_idx))
        rows += [idx, noise_idx]
        cols += [np.full(len(idx) + len(noise_idx), j, dtype=np.int32)]
        vals += [v, nv]
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.clip(np.concatenate(vals), 0.0, 6.0).astype(np.float32)  # SplatNLP clips to [0, 6]
    return sp.csr_matrix((v, (r, c)), shape=(n, len(specs)))


def _spec(rng: np.random.Generator, mask: np.ndarray | None) -> FeatureSpec:
    return FeatureSpec(
        concept_mask=mask,
        scale=float(rng.uniform(0.8, 3.0)),
        dropout=float(rng.uniform(0.03, 0.12)),
        noise_rate=float(rng.uniform(0.0, 0.0008)),
    )


def _mask_matrix(masks: list[np.ndarray]) -> sp.csc_matrix:
    """Boolean masks as the columns of a sparse 0/1 matrix."""
    idx = [np.flatnonzero(m) for m in masks]
    indptr = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum([len(i) for i in idx], out=indptr[1:])
    data = np.ones(int(indptr[-1]), dtype=np.float32)
    return sp.csc_matrix((data, np.concatenate(idx), indptr), shape=(len(masks[0]), len(masks)))


def _unrelated(a: sp.csc_matrix, b: sp.csc_matrix) -> np.ndarray:
    """True for each column of `a` with no column of `b` it could be matched to.

    Related means: one contains the other (containment >= NESTED either way) and their
    supports correlate (phi >= 0.1), the truth's reading of "has a counterpart".
    """
    n = a.shape[0]
    inter = (a.T @ b).toarray()
    na = np.asarray(a.sum(axis=0)).ravel()[:, None]
    nb = np.asarray(b.sum(axis=0)).ravel()[None, :]
    contain = np.maximum(inter / np.maximum(na, 1), inter / np.maximum(nb, 1))
    phi = (n * inter - na * nb) / np.sqrt(np.maximum(na * (n - na) * nb * (n - nb), 1.0))
    return ~((contain >= NESTED) & (phi >= 0.1)).any(axis=1)


SCREEN_WORDS = 128  # 8,192 builds: the quick first look of DistinctConcepts.draw


class DistinctConcepts:
    """Narrow concepts drawn so that no two are related (see `_unrelated`): honest truth."""

    def __init__(self, sampler: ConceptSampler, n: int, capacity: int = 4096):
        self.sampler = sampler
        self.n = n
        self.bits = np.zeros((capacity, (n + 63) // 64), dtype=np.uint64)
        self.sizes = np.zeros(capacity)
        self.sub_sizes = np.zeros(capacity)
        self.count = 0

    def draw(self, lo: float, hi: float, avoid: set | None = None, attempts: int = 400) -> Concept:
        n = self.n
        for _ in range(attempts):
            c = self.sampler.sample(lo, hi, tries=64)
            if c is None or (avoid and c.domains & avoid):
                continue
            packed = c.bits if c.bits is not None else pack_mask(c.mask)
            k = self.count
            # First a look at the first 8,192 builds (rows are in random order); only the
            # concepts that could be related there are counted on every build.
            w = min(SCREEN_WORDS, packed.shape[0])
            sub = np.bitwise_count(self.bits[:k, :w] & packed[:w]).sum(axis=1)
            na_sub = int(np.bitwise_count(packed[:w]).sum())
            close = np.flatnonzero((sub >= 0.3 * na_sub) | (sub >= 0.3 * self.sub_sizes[:k]))
            inter = np.bitwise_count(self.bits[close] & packed).sum(axis=1).astype(np.float64)
            na, nb = float(c.mask.sum()), self.sizes[close]
            contain = np.maximum(inter / na, inter / np.maximum(nb, 1))
            phi = (n * inter - na * nb) / np.sqrt(np.maximum(na * (n - na) * nb * (n - nb), 1.0))
            if np.any((contain >= NESTED) & (phi >= 0.1)):
                continue
            self.bits[k], self.sizes[k], self.sub_sizes[k] = packed, na, na_sub
            self.count += 1
            return c
        raise RuntimeError(f"only {self.count} distinct concepts drawn; lower the feature counts")
