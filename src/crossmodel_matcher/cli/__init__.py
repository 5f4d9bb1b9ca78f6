"""The `crossmodel-matcher` console script: serve (default), demo, build, info, report.

Each subcommand lives in its own module of this package (serve, demo, build, info, report),
which provides `add_arguments(parser)` and `run(args) -> int`; this file only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "serve": ("crossmodel_matcher.cli.serve", "run the MCP server (the default; stdio unless --transport http)"),
    "demo": ("crossmodel_matcher.cli.demo", "build the demo pair if needed and call every tool on it"),
    "build": ("crossmodel_matcher.cli.build", "build a model pair directory from your own SAE data"),
    "info": ("crossmodel_matcher.cli.info", "print what a pair directory holds"),
    "report": ("crossmodel_matcher.cli.report", "write one feature's HTML report page, or one figure as PNG"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen subcommand's module is imported (fast start-up)."""
    parser = argparse.ArgumentParser(
        prog="crossmodel-matcher",
        description="Match SAE features between a narrow and a wide SAE (MCP server and tools).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]
    args = build_parser(argv[0]).parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
