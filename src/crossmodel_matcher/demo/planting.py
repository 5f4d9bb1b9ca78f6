"""Generation of the planted pair: narrow roles, their wide partners, concepts only the wide
model has, and the two models' activations over their own example sets. The RNG is drawn in
one fixed order, step by step, so a seed always gives the same pair."""

from __future__ import annotations

import numpy as np

from crossmodel_matcher.demo.builds import (
    DEMO_SEED,
    DROP_PER_MODEL,
    N_BUILDS,
    N_FULL,
    N_LATENT,
    N_ULTRA,
    ROLE_COUNTS_FULL,
    WIDE_ONLY_CLASSES,
    WIDE_ONLY_FAMILIES,
    WIDE_ONLY_MAINS,
    Builds,
    demo_vocab,
    generate_builds,
)
from crossmodel_matcher.demo.concepts import (
    SHARED_ATOMS,
    Concept,
    ConceptSampler,
    DistinctConcepts,
    FeatureSpec,
    _mask_matrix,
    _spec,
    _unrelated,
    activations,
    atom_set,
    enumerate_concepts,
    split_children,
)
from crossmodel_matcher.demo.truth import dead_record, truth_document
from crossmodel_matcher.store.sources import ModelSource

MIN_CHILD_EXAMPLES = 30
ROLE_PRIORITY = {"split": 0, "one_to_one": 1, "polysemantic": 2, "unique": 3, "dead": 4}


class Planter:
    """Plants the pair's features in order; each step draws from the one generator."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rng = rng = np.random.default_rng(seed)
        self.vocab = demo_vocab()
        self.builds: Builds = generate_builds(rng, N_BUILDS, self.vocab)
        self.n = n = len(self.builds.keys)
        self.latent = rng.standard_normal((n, N_LATENT))
        narrow = ConceptSampler(
            self.builds, rng, atom_set(**SHARED_ATOMS, fine=True), latent=self.latent, p_latent=0.7
        )
        self.distinct = DistinctConcepts(narrow, n)
        self.ultra_specs: list[FeatureSpec] = []
        self.ultra_truth: list[dict] = []
        self.full_specs: list[FeatureSpec | None] = [None] * N_FULL
        self.full_truth: list[dict | None] = [None] * N_FULL
        self.unique_concepts: dict[int, Concept] = {}

    def add_ultra(self, mask, role: str, parents: list[int], concept_text: str | None) -> int:
        self.ultra_specs.append(_spec(self.rng, mask))
        self.ultra_truth.append({"role": role, "parents": parents, "concept": concept_text})
        return len(self.ultra_specs) - 1

    def _set_full(self, fid: int, mask, truth: dict) -> None:
        self.full_specs[fid] = _spec(self.rng, mask)
        self.full_truth[fid] = truth

    # ---- narrow roles ----------------------------------------------------------------------
    def plant_narrow(self) -> None:
        """Narrow roles, in a shuffled order so ids carry no role."""
        roles = []
        for role, count in ROLE_COUNTS_FULL.items():
            roles += [role] * count
        roles += ["unique"] * (N_FULL - len(roles))
        roles = list(self.rng.permutation(roles))
        for fid in sorted(range(N_FULL), key=lambda i: (ROLE_PRIORITY[roles[i]], i)):
            getattr(self, f"_plant_{roles[fid]}")(fid)

    def _plant_dead(self, fid: int) -> None:
        self._set_full(fid, None, dead_record())

    def _plant_polysemantic(self, fid: int) -> None:
        comps: list[Concept] = []
        for _ in range(int(self.rng.integers(2, 4))):
            comps.append(self.distinct.draw(0.004, 0.05, set().union(*(d.domains for d in comps))))
        mask = np.logical_or.reduce([c.mask for c in comps])
        self.full_specs[fid] = _spec(self.rng, mask)
        ids = [self.add_ultra(c.mask, "component", [fid], c.text) for c in comps]
        self.full_truth[fid] = {"role": "polysemantic", "counterparts": ids, "groups": [[i] for i in ids],
                                "concept": " | ".join(f"({c.text})" for c in comps)}

    def _plant_split(self, fid: int) -> None:
        rng = self.rng
        for _ in range(50):
            c = self.distinct.draw(0.008, 0.15)
            kids = split_children(self.builds, c, rng, int(rng.integers(2, 13)), MIN_CHILD_EXAMPLES) if c else None
            if kids:
                break
        spec = _spec(rng, c.mask)
        # Absorption: the parent stays silent on part of one child's examples.
        absorbed = kids[int(rng.integers(len(kids)))].mask
        spec.silence = absorbed & (rng.random(self.n) < rng.uniform(0.1, 0.35))
        self.full_specs[fid] = spec
        ids = [self.add_ultra(k.mask, "child", [fid], k.text) for k in kids]
        self.full_truth[fid] = {"role": "split", "counterparts": ids, "groups": [ids], "concept": c.text}

    def _plant_one_to_one(self, fid: int) -> None:
        c = self.distinct.draw(0.002, 0.15)
        self.full_specs[fid] = _spec(self.rng, c.mask)
        uid = self.add_ultra(c.mask, "one_to_one", [fid], c.text)
        self.full_truth[fid] = {"role": "one_to_one", "counterparts": [uid], "groups": [[uid]], "concept": c.text}

    def _plant_unique(self, fid: int) -> None:
        try:  # unique: kept later only if no wide concept relates to it
            self.unique_concepts[fid] = self.distinct.draw(0.003, 0.1, attempts=20)
        except RuntimeError:
            self._set_full(fid, None, dead_record())

    # ---- the wide model's own concepts ----------------------------------------------------------
    def plant_wide_only(self) -> None:
        """Token conjunctions cut by a hidden latent of the build (tokens alone cannot tell them
        apart), kept if no narrow concept overlaps them; the rest of the wide model is dead."""
        rng, n, latent = self.rng, self.n, self.latent
        wide_atoms = atom_set(
            SHARED_ATOMS["families"] + WIDE_ONLY_FAMILIES, SHARED_ATOMS["mains"] + WIDE_ONLY_MAINS,
            SHARED_ATOMS["classes"] + WIDE_ONLY_CLASSES, fine=True,
        )
        base = enumerate_concepts(self.builds, wide_atoms, 0.004, 0.2, sizes=(1, 2))
        narrow_masks = _mask_matrix(
            [s.concept_mask for s in self.full_specs if s is not None and s.concept_mask is not None]
            + [c.mask for c in self.unique_concepts.values()]
        )
        need = N_ULTRA - len(self.ultra_specs) - int(0.12 * N_ULTRA)
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
            self.add_ultra(c.mask, "unique", [], c.text)
        while len(self.ultra_specs) < N_ULTRA:
            self.add_ultra(None, "dead", [], None)

    def settle_unique(self) -> None:
        """A narrow "unique" concept must not relate to any wide concept either (refinements of
        the other narrow concepts may still overlap it by chance)."""
        wide_masks = _mask_matrix([s.concept_mask for s in self.ultra_specs if s.concept_mask is not None])
        fids = sorted(self.unique_concepts)
        ok = _unrelated(_mask_matrix([self.unique_concepts[f].mask for f in fids]), wide_masks)
        for fid, good in zip(fids, ok):
            c = self.unique_concepts[fid]
            self.full_specs[fid] = _spec(self.rng, c.mask if good else None)
            self.full_truth[fid] = (
                {"role": "unique", "counterparts": [], "groups": [], "concept": c.text} if good else dead_record()
            )

    def shuffle_wide(self) -> None:
        """Shuffle wide ids so children are not contiguous; remap the truth."""
        perm = self.rng.permutation(N_ULTRA)  # new id of old id i is perm[i]
        inv = np.argsort(perm)
        self.ultra_specs = [self.ultra_specs[i] for i in inv]
        self.ultra_truth = [self.ultra_truth[i] for i in inv]
        for t in self.full_truth:
            t["counterparts"] = [int(perm[i]) for i in t["counterparts"]]
            t["groups"] = [[int(perm[i]) for i in g] for g in t["groups"]]

    def sources(self) -> list[ModelSource]:
        """Each model sees most builds, in its own row order."""
        rng, n, out = self.rng, self.n, []
        for name, specs in (("full", self.full_specs), ("ultra", self.ultra_specs)):
            keep = np.sort(rng.choice(n, size=n - DROP_PER_MODEL, replace=False))
            order = rng.permutation(keep)
            acts = activations(specs, n, rng)[order]
            labels = {
                i: t["concept"] for i, t in enumerate(self.full_truth if name == "full" else self.ultra_truth)
                if t["concept"] and rng.random() < 0.1
            }
            out.append(
                ModelSource(
                    name=name,
                    n_features=len(specs),
                    example_keys=self.builds.keys[order],
                    example_tokens=self.builds.tokens.take(order),
                    activations=acts,
                    labels=labels,
                    activation_space=f"{name}-base-model-512",
                    origin=f"demo generator (seed {self.seed})",
                )
            )
        return out


def generate(seed: int = DEMO_SEED):
    """Everything of the demo pair in memory: vocab, two sources, truth."""
    p = Planter(seed)
    p.plant_narrow()
    p.plant_wide_only()
    p.settle_unique()
    p.shuffle_wide()
    full, ultra = p.sources()
    return p.vocab, full, ultra, truth_document(seed, p.n, p.full_truth, p.ultra_truth)
