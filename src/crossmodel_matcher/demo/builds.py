"""The demo's raw material: a seeded vocabulary of Splatoon builds (one weapon plus ability
tokens with cumulative rungs) and the atoms (token predicates) concepts are made of."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossmodel_matcher.demo_paths import DEMO_SEED, DEMO_VERSION  # noqa: F401 - re-exported
from crossmodel_matcher.store.derive import TokenRows

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
