"""The embedded demo pair: two SAEs over Splatoon builds with planted ground truth.

A seeded generator draws builds (one weapon + ability tokens with cumulative rungs), defines
latent concepts as predicates over builds, and gives two SAEs features with known relations:

- narrow "full" (2,048): one-to-one, split parents, polysemantic mixtures of 2-3 unrelated
  concepts, features unique to it, dead features;
- wide "ultra" (24,576): the one-to-one partners, the refinements of every split parent
  (2-12 children partitioning it), one feature per polysemantic component, features unique
  to it (concepts no narrow feature covers), dead features.

It is made hard on purpose: magnitude noise, random spurious firings, dropout, absorption
(a split parent stays silent on some of its children's examples, so children fire without
it), low rung tokens shared by most builds, Zipf-popular weapons, dense and rare features.
Both models see overlapping but different example sets in different row orders, so they
must be aligned by example key. The activations then take the same ingestion path as real
data (`store.ingest.build_pair`), and the truth is written beside the pair as `truth.json`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.pair_source import build_pair
from crossmodel_matcher.store.derive import TokenRows
from crossmodel_matcher.store.sources import ModelSource

DEMO_SEED = 20260524
DEMO_VERSION = 1
N_FULL = 2048
N_ULTRA = 24576
N_BUILDS = 32000
DROP_PER_MODEL = 1000
N_LATENT = 16  # hidden per-build variables (not visible in tokens)
NESTED = 0.6  # containment at which two narrow concepts would be nested: never drawn

MAIN_ONLY = [
    "comeback", "last_ditch_effort", "opening_gambit", "tenacity", "ability_doubler", "haunt",
    "ninja_squid", "respawn_punisher", "thermal_ink", "drop_roller", "object_shredder",
    "stealth_jump",
]
FAMILIES = [
    "ink_recovery_up", "ink_resistance_up", "ink_saver_main", "ink_saver_sub",
    "intensify_action", "quick_respawn", "quick_super_jump", "run_speed_up",
    "special_charge_up", "special_power_up", "special_saver", "sub_power_up",
    "sub_resistance_up", "swim_speed_up",
]
RUNGS = [3, 6, 12, 15, 21, 29, 38, 51, 57]
SPECIALS = ["<PAD>", "<MASK>", "<NULL>"]
N_CLASSES = 13
WEAPONS_PER_CLASS = 10
POPULAR_FAMILIES = (1, 6, 13, 8)  # ink_resistance_up, quick_super_jump, swim_speed_up, scu
# Atoms reserved for concepts only the wide model has (no narrow concept uses them).
WIDE_ONLY_FAMILIES = (3, 12)
WIDE_ONLY_MAINS = (10, 11)
WIDE_ONLY_CLASSES = (11, 12)

ROLE_COUNTS_FULL = {"dead": 120, "one_to_one": 520, "split": 720, "polysemantic": 260}


def demo_vocab() -> list[str]:
    tokens = list(SPECIALS) + list(MAIN_ONLY)
    tokens += [f"{fam}_{r}" for fam in FAMILIES for r in RUNGS]
    tokens += [f"weapon_id_{1000 * c + 10 * j}" for c in range(N_CLASSES) for j in range(WEAPONS_PER_CLASS)]
    return tokens


@dataclass
class Builds:
    weapon: np.ndarray  # int [N]
    level: np.ndarray  # int8 [N, 14]: -1 absent, else rung index 0..8
    mains: np.ndarray  # bool [N, 12]
    keys: np.ndarray  # str [N]
    tokens: TokenRows

    def __post_init__(self) -> None:
        self.wclass = self.weapon // WEAPONS_PER_CLASS
        self._atoms: dict = {}


def generate_builds(rng: np.random.Generator, n: int, vocab: list[str]) -> Builds:
    """Unique builds: a Zipf-popular weapon, class-flavoured families, cumulative rungs."""
    tok_id = {t: i for i, t in enumerate(vocab)}
    n_weapons = N_CLASSES * WEAPONS_PER_CLASS
    n_fam, n_main = len(FAMILIES), len(MAIN_ONLY)
    pop = 1.0 / np.arange(1, n_weapons + 1) ** 0.9
    weapon_pop = rng.permutation(pop / pop.sum())
    fam_pref = rng.dirichlet(np.full(n_fam, 0.6), size=N_CLASSES)
    main_pref = rng.dirichlet(np.full(n_main, 0.7), size=N_CLASSES)
    rung_p = np.array([0.30, 0.22, 0.15, 0.1, 0.09, 0.06, 0.04, 0.025, 0.015])
    m = int(n * 1.2)
    weapon = rng.choice(n_weapons, size=m, p=weapon_pop)
    wclass = weapon // WEAPONS_PER_CLASS
    # k families per build, drawn without replacement by class preference (Gumbel top-k).
    gumbel = np.log(fam_pref[wclass]) - np.log(-np.log(rng.random((m, n_fam))))
    rank = np.argsort(np.argsort(-gumbel, axis=1), axis=1)
    k = rng.integers(2, 6, size=m)
    level = np.where(rank < k[:, None], rng.choice(len(RUNGS), size=(m, n_fam), p=rung_p), -1)
    for fam in POPULAR_FAMILIES:  # low rungs of popular families: tokens in most builds
        add = (level[:, fam] < 0) & (rng.random(m) < 0.45)
        level[add, fam] = rng.choice(2, size=int(add.sum()), p=[0.7, 0.3])
    level = level.astype(np.int8)
    mains = np.zeros((m, n_main), dtype=bool)
    first = (main_pref[wclass].cumsum(axis=1) < rng.random(m)[:, None]).sum(axis=1)
    has = rng.random(m) < 0.65
    mains[np.flatnonzero(has), np.minimum(first[has], n_main - 1)] = True
    second = rng.random(m) < 0.2
    mains[np.flatnonzero(second), rng.integers(n_main, size=int(second.sum()))] = True
    # Token incidence, then a key per build (sorted tokens + weapon), then unique builds.
    inc = np.zeros((m, len(vocab)), dtype=bool)
    inc[:, [tok_id[t] for t in MAIN_ONLY]] = mains
    for f, fam in enumerate(FAMILIES):
        for r, rung in enumerate(RUNGS):
            inc[:, tok_id[f"{fam}_{rung}"]] = level[:, f] >= r
    wtok = np.array([tok_id[f"weapon_id_{1000 * c + 10 * j}"] for c in range(N_CLASSES)
                     for j in range(WEAPONS_PER_CLASS)])
    inc[np.arange(m), wtok[weapon]] = True
    names = np.array(vocab)
    rows = [np.flatnonzero(r) for r in inc]
    keys = np.array([",".join(names[r]) for r in rows])
    _, first_idx = np.unique(keys, return_index=True)
    keep = np.sort(first_idx)[:n]
    if len(keep) < n:
        raise RuntimeError("too few unique builds; raise the oversampling")
    return Builds(weapon[keep], level[keep], mains[keep], keys[keep],
                  TokenRows.from_lists([rows[i] for i in keep]))


# ---- concepts ----------------------------------------------------------------------------
Atom = tuple  # ("ge", fam, r) | ("eq", fam, r) | ("main", x) | ("class", c) | ("weapon", w)


def atom_mask(b: Builds, atom: Atom) -> np.ndarray:
    cached = b._atoms.get(atom)
    if cached is None:
        cached = b._atoms[atom] = _atom_mask(b, atom)
    return cached


def _atom_mask(b: Builds, atom: Atom) -> np.ndarray:
    kind = atom[0]
    if kind == "ge":
        return b.level[:, atom[1]] >= atom[2]
    if kind == "eq":
        return b.level[:, atom[1]] == atom[2]
    if kind == "main":
        return b.mains[:, atom[1]]
    if kind == "class":
        return b.wclass == atom[1]
    if kind == "weapon":
        return b.weapon == atom[1]
    raise ValueError(atom)


def atom_text(atom: Atom) -> str:
    kind = atom[0]
    if kind == "ge":
        return f"{FAMILIES[atom[1]]}>={RUNGS[atom[2]]}"
    if kind == "eq":
        return f"{FAMILIES[atom[1]]}=={RUNGS[atom[2]]}"
    if kind == "main":
        return MAIN_ONLY[atom[1]]
    if kind == "class":
        return f"weapon class {atom[1]}"
    if kind == "latent":
        return f"hidden style {atom[1]}"
    if kind == "rest":
        return f"other {atom[1]} values"
    return f"weapon {atom[1]}"


def atom_domain(atom: Atom) -> tuple:
    """What an atom is about (a family, a main ability, a class): unrelated = disjoint domains."""
    if atom[0] in ("ge", "eq"):
        return ("fam", atom[1])
    if atom[0] == "weapon":
        return ("class", atom[1] // WEAPONS_PER_CLASS)
    return (atom[0], atom[1])


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


def generate(seed: int = DEMO_SEED):
    """Everything of the demo pair in memory: vocab, two sources, truth."""
    rng = np.random.default_rng(seed)
    vocab = demo_vocab()
    builds = generate_builds(rng, N_BUILDS, vocab)
    n = len(builds.keys)
    latent = rng.standard_normal((n, N_LATENT))
    narrow = ConceptSampler(builds, rng, atom_set(**SHARED_ATOMS, fine=True), latent=latent, p_latent=0.7)
    distinct = DistinctConcepts(narrow, n)
    min_n = 30
    ultra_specs: list[FeatureSpec] = []
    ultra_truth: list[dict] = []

    def add_ultra(mask, role, parents, concept_text):
        ultra_specs.append(_spec(rng, mask))
        ultra_truth.append({"role": role, "parents": parents, "concept": concept_text})
        return len(ultra_specs) - 1

    # Narrow roles, in a shuffled order so ids carry no role.
    roles = []
    for role, count in ROLE_COUNTS_FULL.items():
        roles += [role] * count
    roles += ["unique"] * (N_FULL - len(roles))
    roles = list(rng.permutation(roles))
    unique_concepts: dict[int, Concept] = {}
    full_specs = [None] * N_FULL
    full_truth = [None] * N_FULL
    priority = {"split": 0, "one_to_one": 1, "polysemantic": 2, "unique": 3, "dead": 4}
    for fid in sorted(range(N_FULL), key=lambda i: (priority[roles[i]], i)):
        role = roles[fid]
        if role == "dead":
            full_specs[fid] = _spec(rng, None)
            full_truth[fid] = {"role": "dead", "counterparts": [], "groups": [], "concept": None}
            continue
        if role == "polysemantic":
            comps: list[Concept] = []
            for _ in range(int(rng.integers(2, 4))):
                comps.append(distinct.draw(0.004, 0.05, set().union(*(d.domains for d in comps))))
            mask = np.logical_or.reduce([c.mask for c in comps])
            full_specs[fid] = _spec(rng, mask)
            ids = [add_ultra(c.mask, "component", [fid], c.text) for c in comps]
            full_truth[fid] = {"role": role, "counterparts": ids, "groups": [[i] for i in ids],
                               "concept": " | ".join(f"({c.text})" for c in comps)}
            continue
        if role == "split":
            for _ in range(50):
                c = distinct.draw(0.008, 0.15)
                kids = split_children(builds, c, rng, int(rng.integers(2, 13)), min_n) if c else None
                if kids:
                    break
            spec = _spec(rng, c.mask)
            # Absorption: the parent stays silent on part of one child's examples.
            absorbed = kids[int(rng.integers(len(kids)))].mask
            spec.silence = absorbed & (rng.random(n) < rng.uniform(0.1, 0.35))
            full_specs[fid] = spec
            ids = [add_ultra(k.mask, "child", [fid], k.text) for k in kids]
            full_truth[fid] = {"role": role, "counterparts": ids, "groups": [ids], "concept": c.text}
            continue
        if role == "one_to_one":
            c = distinct.draw(0.002, 0.15)
            full_specs[fid] = _spec(rng, c.mask)
            uid = add_ultra(c.mask, "one_to_one", [fid], c.text)
            full_truth[fid] = {"role": role, "counterparts": [uid], "groups": [[uid]], "concept": c.text}
            continue
        try:  # unique: kept below only if no wide concept relates to it
            unique_concepts[fid] = distinct.draw(0.003, 0.1, attempts=20)
        except RuntimeError:
            full_specs[fid] = _spec(rng, None)
            full_truth[fid] = {"role": "dead", "counterparts": [], "groups": [], "concept": None}

    # Concepts only the wide model has: token conjunctions cut by a hidden latent of the
    # build (tokens alone cannot tell them apart), kept if no narrow concept overlaps them.
    wide_atoms = atom_set(
        SHARED_ATOMS["families"] + WIDE_ONLY_FAMILIES, SHARED_ATOMS["mains"] + WIDE_ONLY_MAINS,
        SHARED_ATOMS["classes"] + WIDE_ONLY_CLASSES, fine=True,
    )
    base = enumerate_concepts(builds, wide_atoms, 0.004, 0.2, sizes=(1, 2))
    narrow_masks = _mask_matrix(
        [s.concept_mask for s in full_specs if s is not None and s.concept_mask is not None]
        + [c.mask for c in unique_concepts.values()]
    )
    need = N_ULTRA - len(ultra_specs) - int(0.12 * N_ULTRA)
    pool: list[Concept] = []
    variants = rng.permutation(len(base) * 2 * N_LATENT)
    for lo in range(0, len(variants), 4096):
        batch = []
        for v in variants[lo : lo + 4096]:
            c, k = base[v // (2 * N_LATENT)], v % (2 * N_LATENT)
            z = latent[:, k // 2] * (1 if k % 2 else -1)
            mask = c.mask & (z > rng.uniform(0.0, 1.0))
            if 0.001 * n <= mask.sum() <= 0.08 * n:
                batch.append(Concept(c.atoms + (("latent", int(k)),), mask))
        ok = _unrelated(_mask_matrix([c.mask for c in batch]), narrow_masks)
        pool += [c for c, good in zip(batch, ok) if good]
        if len(pool) >= need:
            break
    for c in pool[: max(0, need)]:
        add_ultra(c.mask, "unique", [], c.text)
    while len(ultra_specs) < N_ULTRA:
        add_ultra(None, "dead", [], None)

    # A narrow "unique" concept must not relate to any wide concept either (refinements of
    # the other narrow concepts may still overlap it by chance).
    wide_masks = _mask_matrix([s.concept_mask for s in ultra_specs if s.concept_mask is not None])
    fids = sorted(unique_concepts)
    ok = _unrelated(_mask_matrix([unique_concepts[f].mask for f in fids]), wide_masks)
    for fid, good in zip(fids, ok):
        c = unique_concepts[fid]
        full_specs[fid] = _spec(rng, c.mask if good else None)
        full_truth[fid] = (
            {"role": "unique", "counterparts": [], "groups": [], "concept": c.text} if good
            else {"role": "dead", "counterparts": [], "groups": [], "concept": None}
        )

    # Shuffle wide ids so children are not contiguous; remap the truth.
    perm = rng.permutation(N_ULTRA)  # new id of old id i is perm[i]
    inv = np.argsort(perm)
    ultra_specs = [ultra_specs[i] for i in inv]
    ultra_truth = [ultra_truth[i] for i in inv]
    for t in full_truth:
        t["counterparts"] = [int(perm[i]) for i in t["counterparts"]]
        t["groups"] = [[int(perm[i]) for i in g] for g in t["groups"]]

    # Each model sees most builds, in its own row order.
    sources = []
    for name, specs in (("full", full_specs), ("ultra", ultra_specs)):
        keep = np.sort(rng.choice(n, size=n - DROP_PER_MODEL, replace=False))
        order = rng.permutation(keep)
        acts = activations(specs, n, rng)[order]
        labels = {
            i: t["concept"] for i, t in enumerate(full_truth if name == "full" else ultra_truth)
            if t["concept"] and rng.random() < 0.1
        }
        sources.append(
            ModelSource(
                name=name,
                n_features=len(specs),
                example_keys=builds.keys[order],
                example_tokens=builds.tokens.take(order),
                activations=acts,
                labels=labels,
                activation_space=f"{name}-base-model-512",
                origin=f"demo generator (seed {seed})",
            )
        )
    truth = {
        "description": "Planted ground truth of the demo pair; see README 'Demo data'.",
        "seed": seed,
        "demo_version": DEMO_VERSION,
        "n_builds": n,
        "models": {"full": N_FULL, "ultra": N_ULTRA},
        "full": [{"feature": i, **t} for i, t in enumerate(full_truth)],
        "ultra": [{"feature": i, **t} for i, t in enumerate(ultra_truth)],
    }
    return vocab, sources[0], sources[1], truth


def default_cache_dir() -> Path:
    base = os.environ.get("CROSSMODEL_MATCHER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "crossmodel-matcher"
    )
    return Path(base)


def demo_pair_dir(cache_dir: str | Path | None = None, seed: int = DEMO_SEED) -> Path:
    return Path(cache_dir or default_cache_dir()) / f"demo-v{DEMO_VERSION}-seed{seed}"


def ensure_demo_pair(
    cache_dir: str | Path | None = None, seed: int = DEMO_SEED, progress: bool = True
) -> Path:
    """The demo pair directory, built on first use (deterministic, nothing downloaded)."""
    out = demo_pair_dir(cache_dir, seed)
    if (out / "pair.json").is_file() and (out / "truth.json").is_file():
        return out
    vocab, full, ultra, truth = generate(seed)
    build_pair(
        vocab, full, ultra, out,
        description=f"Demo pair: synthetic Splatoon-build SAEs with planted truth (seed {seed})",
        progress=progress,
        extra_manifest={"demo_seed": seed, "demo_version": DEMO_VERSION},
    )
    tmp = out / ".truth.json.tmp"
    tmp.write_text(json.dumps(truth))
    tmp.replace(out / "truth.json")
    return out


def load_truth(pair_dir: str | Path) -> dict:
    return json.loads((Path(pair_dir) / "truth.json").read_text())
