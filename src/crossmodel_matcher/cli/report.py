"""`crossmodel-matcher report`: one feature as a self-contained HTML page, or one figure as PNG."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from crossmodel_matcher.cli.errors import fail
from crossmodel_matcher.figures.kinds import FIGURE_KINDS
from crossmodel_matcher.pair_choice import add_pair_argument, resolve_pair_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_argument(parser)
    parser.add_argument("--model", required=True, help="model the feature belongs to (e.g. full)")
    parser.add_argument("--feature", type=int, required=True, help="feature id in --model")
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="report.html: the whole page (card, matches, figures, evidence); report.png: one figure",
    )
    parser.add_argument(
        "--figure",
        choices=FIGURE_KINDS,
        default="containment",
        help="which figure --out FILE.png draws (default containment)",
    )


def _fail(message: str) -> int:
    return fail(message, "report")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it private; a report is for sharing
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".png"):
        return _fail(f"--out {args.out}: name a .html file (the page) or a .png file (one figure)")
    if not out.parent.is_dir():
        return _fail(f"--out {args.out}: folder {out.parent} does not exist")
    from crossmodel_matcher.errors import CrossmodelError
    from crossmodel_matcher.figures.views import feature_report_page, render_figure
    from crossmodel_matcher.pair_source import open_pair

    try:
        matcher = open_pair(resolve_pair_dir(args.pair))
        if suffix == ".html":
            data = feature_report_page(matcher, args.model, args.feature).encode("utf-8")
            what = f"page about {args.model} {args.feature}"
        else:
            image = render_figure(matcher, args.figure, args.model, args.feature)
            data, what = image.png, image.caption
    except CrossmodelError as exc:
        return _fail(str(exc))
    _write_atomically(out, data)
    print(f"wrote {out} ({len(data) / 1000:.0f} KB): {what}", file=sys.stderr)
    return 0
