"""Feature labels: `{"<feature id>": "label"}` or SplatNLP's consolidated labels
`{"<feature id>": {display_name, research_label, dashboard_name, ...}}`, one string each."""

from __future__ import annotations

import json
from pathlib import Path

from crossmodel_matcher.errors import InputError

LABEL_FIELDS = ("display_name", "research_label", "dashboard_name")
"""Fields of a consolidated label tried in order; the first non-empty one is the label."""


def read_labels(path: str | Path, n_features: int) -> dict[int, str]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f'{path}: labels must be a JSON object {{"<feature id>": ...}}')
    labels: dict[int, str] = {}
    for key, value in data.items():
        try:
            fid = int(key)
        except ValueError:
            raise InputError(f"{path}: key {key!r} is not a feature id; keys must be integers") from None
        if not 0 <= fid < n_features:
            raise InputError(
                f"{path}: feature id {fid} is outside 0..{n_features - 1}; labels of another model?"
            )
        if isinstance(value, dict):
            text = next(
                (value[f] for f in LABEL_FIELDS if isinstance(value.get(f), str) and value[f].strip()), None
            )
        elif isinstance(value, str):
            text = value
        else:
            raise InputError(
                f"{path}: label of feature {key} is a {type(value).__name__}; use a string or an object"
            )
        if text and text.strip():
            labels[fid] = text.strip()
    return labels
