"""The figure kinds and what each draws (no matplotlib here: cheap to import for the server)."""

FIGURE_KINDS: tuple[str, ...] = ("containment", "decomposition", "overview")
"""containment: a feature's top candidates on the containment plane (A in B vs B in A), by
relation; decomposition: a feature's parts (or a wide feature's parents) as stacked shares with
their tokens; overview: the whole pair (counterparts per model, narrow verdicts, split sizes)."""
CONTAINMENT_TOP_N = 20
"""Candidates drawn on the containment plane."""
