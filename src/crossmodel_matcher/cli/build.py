"""`crossmodel-matcher build`: a pair directory from your own SAE data.

    crossmodel-matcher build --out DIR [--vocab vocab.json] [--weapon-vocab weapon_vocab.json]
        --model NAME:KEY=VALUE[,KEY=VALUE...]  --model NAME:KEY=VALUE[,...]

Each `--model` names one SAE and lists its inputs as KEY=VALUE pairs (see MODEL_KEYS).
Progress goes to stderr, the closing summary to stdout; a bad input prints `error: ...`
(the file, the field, the fix) and exits with status 2, leaving nothing behind.
"""

from __future__ import annotations

import argparse
import json

MODEL_KEYS = {
    "top": "generic top-examples table: .parquet, .csv or .jsonl (feature_id, activation, tokens)",
    "acts": "generic activations: CSR .npz (indptr, indices, data, shape) or dense .npy [examples, features]",
    "tokens": 'with acts=: JSON lines, one {"tokens": [...]} (optional "example_key") per activation row',
    "keys": "with acts=: text file, one example key per activation row (default: key from the tokens)",
    "splatnlp-top": "SplatNLP top-example store folder (all_examples.parquet, feature_index.parquet)",
    "splatnlp-acts": "SplatNLP efficient store folder (activations/batch_*.zarr, metadata/batch_*.parquet)",
    "decoder": "SAE checkpoint: torch state dict (.pth/.pt) or .safetensors (W_dec) with cfg.json",
    "labels": 'labels JSON: {"<feature id>": "label"} or SplatNLP consolidated labels',
    "space": "activation space the SAE reads (decoder cosine is used only when both models name the same)",
    "vocab": "vocabulary of this model's token ids, when it is not the shared --vocab",
    "features": "number of features, when no other input fixes it",
}

EPILOG = (
    "model keys:\n"
    + "\n".join(f"  {k:<14} {v}" for k, v in MODEL_KEYS.items())
    + """

examples:
  crossmodel-matcher build --out pairs/mine --model full:top=full_top.parquet \\
      --model ultra:acts=ultra.npz,tokens=ultra_tokens.jsonl
  crossmodel-matcher build --out pairs/splat --vocab vocab.json --weapon-vocab weapon_vocab.json \\
      --model full:splatnlp-top=full/top,splatnlp-acts=full/efficient,decoder=full/sae.pth \\
      --model ultra:splatnlp-top=ultra/top,splatnlp-acts=ultra/efficient,decoder=ultra/sae.pth
"""
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--out", required=True, metavar="DIR", help="pair directory to write (atomically)")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,...]",
        help="one SAE and its inputs; give it twice (narrow model first, by convention)",
    )
    parser.add_argument(
        "--vocab", metavar="FILE", help="shared vocabulary: JSON list of tokens or {token: id}"
    )
    parser.add_argument(
        "--weapon-vocab",
        metavar="FILE",
        help="SplatNLP weapon_vocab.json; its tokens join the shared vocabulary",
    )
    add_limit_arguments(parser)
    parser.add_argument("--description", default="", help="free text stored in the pair manifest")
    parser.add_argument("--force", action="store_true", help="replace an existing pair at --out")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--allow-unused-width",
        action="store_true",
        help="build even when a declared width is far beyond the largest feature id in the data",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    from crossmodel_matcher.rules import DEFAULT_SAMPLE_EXAMPLES, MEMORY_DEFAULT_SHARE
    from crossmodel_matcher.store.memory_budget import LIMIT_ENV, LIMIT_OPTION

    parser.add_argument("--max-examples", type=int, metavar="N",
                        help="read at most the first N activation rows of each model")
    parser.add_argument("--sample-examples", type=int, default=DEFAULT_SAMPLE_EXAMPLES, metavar="N",
                        help="aligned examples whose activations the pair keeps for find_decomposition "
                        "(a hash-of-key sample; default %(default)s)")
    parser.add_argument(LIMIT_OPTION, dest="memory_limit", metavar="SIZE",
                        help="memory the build may use, e.g. 8G: a build whose estimated allocations "
                        "exceed it is refused, and a streamed build sizes its blocks of rows to stay "
                        f"well under it (default ${LIMIT_ENV}, else {MEMORY_DEFAULT_SHARE:.0%}% of "
                        "this machine's memory)")
    # The name an earlier release used for the block sizing: same option, kept so commands work.
    parser.add_argument("--memory-budget", dest="memory_limit", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="where a streamed build's block products run (default %(default)s)")


def limits_from_args(args: argparse.Namespace):
    """The build limits the options ask for (InputError naming the option on a bad value)."""
    from crossmodel_matcher.errors import InputError
    from crossmodel_matcher.store.limits import BuildLimits
    from crossmodel_matcher.store.memory_budget import LIMIT_OPTION, parse_size

    try:
        limit = None if args.memory_limit is None else parse_size(args.memory_limit)
    except ValueError as exc:
        raise InputError(f"{LIMIT_OPTION}: {exc}") from None
    try:
        return BuildLimits(args.max_examples, args.sample_examples, limit, args.device)
    except ValueError as exc:
        option = str(exc).split("=")[0].replace("_", "-")
        raise InputError(f"--{option}: {exc}") from None


def parse_model(text: str):
    """`NAME:KEY=VALUE[,KEY=VALUE...]` as ModelInputs (InputError on anything malformed)."""
    from crossmodel_matcher.errors import InputError
    from crossmodel_matcher.store.inputs_reader import ModelInputs

    name, sep, rest = text.partition(":")
    if not sep or not name or not rest:
        raise InputError(
            f"--model {text!r}: expected NAME:KEY=VALUE[,KEY=VALUE...], e.g. full:top=full.parquet"
        )
    values: dict[str, object] = {}
    for item in rest.split(","):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not value:
            raise InputError(f"--model {name}: {item!r} is not KEY=VALUE")
        if key not in MODEL_KEYS:
            raise InputError(f"--model {name}: unknown key {key!r}; valid keys: {', '.join(MODEL_KEYS)}")
        attr = key.replace("-", "_")
        if attr in values:
            raise InputError(f"--model {name}: key {key!r} given twice")
        if attr == "features":
            try:
                values[attr] = int(value)
            except ValueError:
                raise InputError(f"--model {name}: features={value!r} must be an integer") from None
        else:
            values[attr] = value
    return ModelInputs(name=name, **values)


def run(args: argparse.Namespace) -> int:
    from crossmodel_matcher.cli.errors import fail
    from crossmodel_matcher.errors import InputError
    from crossmodel_matcher.pair_source import build_pair_from_inputs

    try:
        models = [parse_model(text) for text in args.model]
        limits = limits_from_args(args)
        summary = build_pair_from_inputs(
            args.out,
            models,
            vocab=args.vocab,
            weapon_vocab=args.weapon_vocab,
            description=args.description,
            overwrite=args.force,
            progress=not args.quiet,
            limits=limits,
            allow_unused_width=args.allow_unused_width,
        )
    except InputError as exc:
        return fail(exc)
    except MemoryError:
        return fail(
            "the build ran out of memory below its planned budget; lower --memory-limit to what "
            "this machine can spare, or build on a larger machine"
        )
    print(json.dumps(summary.as_dict(), indent=2) if args.json else summary.text())
    return 0
