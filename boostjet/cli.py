"""The ``boostjet`` command: ``generate``, ``info``, ``run``, ``dataset``, ``train``, ``report``.

A subcommand is one function ``add_<name>_parser(subparsers)`` that adds its parser and sets
``handler`` (``(args) -> int``, the exit code) with ``set_defaults``; listing that function in
``SUBCOMMANDS`` registers it. Heavy imports happen inside the handlers, so ``--help`` is fast.

Every :class:`~boostjet.errors.BoostjetError` is printed as its one sentence on stderr with exit
code 2 and no traceback; ``--debug`` re-raises it to show where it came from.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boostjet import __version__
from boostjet.errors import BoostjetError
from boostjet.pipeline.progress import console

if TYPE_CHECKING:
    from boostjet.config import RunConfig

#: Command-line flag (argparse destination) → configuration key it overrides.
FLAG_KEYS = {
    "executor": "executor.type",
    "workers": "executor.workers",
    "scheduler": "executor.scheduler",
    "chunksize": "executor.chunksize",
}
EXECUTORS = ("iterative", "futures", "dask", "dask-awkward")


def _debug_flag(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show tracebacks of errors"
    )


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    """CONFIG, ``--set`` and the named flags that map onto configuration keys."""
    parser.add_argument("config", metavar="CONFIG", type=Path, help="YAML run configuration")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override any configuration value (value read as YAML); repeatable",
    )
    parser.add_argument("--executor", choices=EXECUTORS, help="executor.type")
    parser.add_argument("--workers", type=int, metavar="N", help="executor.workers")
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="executor.scheduler: an existing dask scheduler (implies --executor dask)",
    )
    parser.add_argument("--chunksize", type=int, metavar="N", help="executor.chunksize")
    parser.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="executor.skip_bad_files: report bad files and failing chunks, process the rest",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing output directory"
    )
    _debug_flag(parser, argparse.SUPPRESS)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--set`` values, then the named flags (which win), as ``key.path → value``."""
    from boostjet.config import parse_override

    overrides = dict(parse_override(text) for text in args.overrides)
    for flag, key in FLAG_KEYS.items():
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    if args.scheduler is not None and args.executor is None:
        overrides["executor.type"] = "dask"
    if args.skip_bad_files:
        overrides["executor.skip_bad_files"] = True
    if getattr(args, "run_output", None) is not None:
        overrides["output"] = str(args.run_output)
    return overrides


def load_run_config(args: argparse.Namespace) -> RunConfig:
    """The configuration named on the command line, with every override applied."""
    from boostjet.config import load_config

    return load_config(args.config, config_overrides(args))


# --- run -------------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from boostjet.pipeline import checkpoint
    from boostjet.pipeline.accounting import print_run
    from boostjet.pipeline.outputs import write_outputs
    from boostjet.pipeline.progress import say
    from boostjet.pipeline.routes import run
    from boostjet.rundir import (
        REPORT_MARKDOWN,
        check_output_directory,
        checkpoint_directory,
        output_lock,
        run_directory,
    )

    config = load_run_config(args)
    run_dir = run_directory(config)
    with output_lock(run_dir):  # a second run on the same directory is refused until this ends
        check_output_directory(run_dir, args.overwrite)
        partial = checkpoint_directory(config)
        result = run(config, checkpoint=partial, resume=args.resume)
        write_outputs(run_dir, config, result, overwrite=args.overwrite)
        checkpoint.remove(partial)
        print_run(result, run_dir)
        if config.report and not args.no_report:
            from boostjet.analysis.report import write_report

            analysis = write_report(run_dir, log_notes=False)
            say(f"report: {run_dir / REPORT_MARKDOWN} ({_notes(analysis)})")
    return 0


def add_run_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run the analysis over the configured datasets and write histograms"
    )
    _config_arguments(parser)
    parser.add_argument(
        "--output",
        dest="run_output",
        type=Path,
        metavar="DIR",
        help="output: the run directory is DIR/<name>",
    )
    parser.add_argument("--no-report", action="store_true", help="do not write the report")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip the chunks an interrupted run of the same configuration completed "
        "(saved in <output>/.<name>.partial/)",
    )
    parser.set_defaults(handler=_run)


# --- dataset ---------------------------------------------------------------------------------


def _dataset(args: argparse.Namespace) -> int:
    from boostjet.pipeline.export import export_dataset
    from boostjet.pipeline.progress import say

    manifest = export_dataset(load_run_config(args), args.output, overwrite=args.overwrite)
    for name, entry in manifest.datasets.items():
        counts = ", ".join(f"{label} {n}" for label, n in entry.counts_per_class.items())
        say(f"{name}: {entry.jets} jets in {len(entry.files)} chunk files ({counts})")
    say(f"training data in {args.output}")
    return 0


def add_dataset_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "dataset", help="export per-jet training arrays (.npz per chunk + manifest.json)"
    )
    _config_arguments(parser)
    parser.add_argument("--output", required=True, type=Path, metavar="DIR", help="export here")
    parser.set_defaults(handler=_dataset)


# --- info ------------------------------------------------------------------------------------


def _info(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from boostjet.errors import InputFileError
    from boostjet.pipeline.baskets import unreadable_baskets
    from boostjet.pipeline.fileset import describe_tree, open_tree

    with open_tree(str(args.file), args.tree, option="--tree") as tree:
        info = describe_tree(tree, args.collection)
        unreadable = unreadable_baskets(tree) if args.check else []
    console = Console(soft_wrap=False)
    table = Table("collection", "objects", "fields", title=f"{args.file} — tree '{args.tree}'")
    for name, (objects, fields) in info.collections.items():
        table.add_row(name, "" if objects is None else str(objects), ", ".join(fields))
    console.print(table)
    console.print(f"events: {info.events}", markup=False)
    if info.fat_jets is None:
        console.print(f"fat jets: no collection '{args.collection}' in this file", markup=False)
    else:
        mean = info.fat_jets / info.events if info.events else 0.0
        console.print(
            f"fat jets ({args.collection}): {info.fat_jets} in total, {mean:.2f} per event; "
            f"constituent references: {info.references}",
            markup=False,
        )
    if not args.check:
        console.print("baskets: not read (--check reads and decompresses every one)")
        return 0
    for item in unreadable:
        console.print(f"unreadable: {item}", markup=False, soft_wrap=True)
    if unreadable:
        raise InputFileError(
            f"{args.file} has {len(unreadable)} unreadable basket(s), listed above."
        )
    console.print("baskets: every basket of every branch read and decompressed", markup=False)
    return 0


def add_info_parser(subparsers) -> None:
    parser = subparsers.add_parser("info", help="describe a Delphes ROOT file")
    parser.add_argument("file", metavar="FILE")  # a str: Path would turn root:// into root:/
    parser.add_argument("--collection", default="FatJet", help="fat-jet collection (FatJet)")
    parser.add_argument("--tree", default="Delphes", help="tree name (Delphes)")
    parser.add_argument("--check", action="store_true", help="read every basket; list bad ones")
    _debug_flag(parser, argparse.SUPPRESS)
    parser.set_defaults(handler=_info)


# --- generate --------------------------------------------------------------------------------

_GENERATION_OPTIONS = ("process", "events", "pthat_min", "ecm", "card", "seed", "mpi", "workers")


def _generate(args: argparse.Namespace) -> int:
    from boostjet.generation import GenerationOptions, generate
    from boostjet.pipeline.progress import say

    given = {key: getattr(args, key) for key in _GENERATION_OPTIONS}
    options = GenerationOptions(**{k: v for k, v in given.items() if v is not None})
    result = generate(options, args.output, progress=True)
    say(
        f"wrote {result['output']}: {result['events']} events, {result['fat_jets']} fat jets "
        f"in {result['seconds']:.1f} s"
    )
    return 0


def add_generate_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="generate a sample (Pythia 8 + parametrised detector) in flat layout"
    )
    parser.add_argument("--process", required=True, help="ttbar, qcd, wjets or zjets")
    parser.add_argument("--events", required=True, type=int)
    parser.add_argument("--pthat-min", type=float, metavar="GEV")
    parser.add_argument("--ecm", type=float, metavar="GEV", help="centre-of-mass energy")
    parser.add_argument("--card", help="detector card: mc or data-like")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--mpi", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--output", required=True, type=Path, metavar="FILE.root")
    _debug_flag(parser, argparse.SUPPRESS)
    parser.set_defaults(handler=_generate)


def _train(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from boostjet.config import parse_override
    from boostjet.training.options import TrainingOptions
    from boostjet.training.train import train

    given = {f.name: getattr(args, f.name) for f in fields(TrainingOptions) if f.name in args}
    hyperparameters = dict(parse_override(text) for text in args.hyper)
    result = train(TrainingOptions(**given, hyperparameters=hyperparameters))
    console.print(f"exported {result['model']} and {result['metadata']}")
    console.print(f"validation: {result['validation']}")
    return 0


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def add_train_parser(subparsers) -> None:
    from dataclasses import MISSING, fields
    from typing import Literal, get_args, get_origin, get_type_hints

    from boostjet.models.registry import MODELS
    from boostjet.training.options import TrainingOptions

    kinds = get_type_hints(TrainingOptions)
    defaults = {f.name: f.default for f in fields(TrainingOptions) if f.default is not MISSING}
    parser = subparsers.add_parser(
        "train", help="train a tagger or regressor on a `boostjet dataset` export and export it"
    )

    def option(flag: str, **settings) -> None:
        """An optional argument whose default (and choices, for a Literal) TrainingOptions gives."""
        name = flag.removeprefix("--").replace("-", "_")
        if get_origin(kinds[name]) is Literal:
            settings["choices"] = get_args(kinds[name])
        parser.add_argument(flag, default=defaults[name], **settings)

    parser.add_argument("--model", required=True, choices=list(MODELS), help="architecture")
    parser.add_argument("--data", required=True, type=Path, help="`boostjet dataset` output")
    parser.add_argument("--output", required=True, type=Path, help="directory for the model")
    option("--signal", help="tagger signal")
    option("--name", help="model name (default: <model>_<signal> or <model>)")
    option("--epochs", type=_positive(int))
    option("--batch-size", type=_positive(int))
    option("--learning-rate", type=_positive(float))
    option(
        "--schedule",
        help="learning rate per step: cosine decay to 1 %% over all epochs (default), or constant",
    )
    option(
        "--clip-grad-norm", type=_positive(float), metavar="NORM", help="clip each step's gradient"
    )
    option("--weight-decay", type=float, help="L2 penalty (Adam)")
    option("--validation-fraction", type=_positive(float))
    option("--patience", type=_positive(int), help="early stopping")
    option("--device", help="cpu, cuda, cuda:0, …")
    option("--seed", type=int)
    option("--threads", type=_positive(int), help="torch CPU threads")
    option("--preset")
    option("--max-jets", type=_positive(int), help="use at most this many jets")
    option("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument(
        "--hyper",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="architecture hyperparameter (value read as YAML), e.g. relative_to_soft_drop=true",
    )
    _debug_flag(parser, argparse.SUPPRESS)
    parser.set_defaults(handler=_train)


def _report(args: argparse.Namespace) -> int:
    from boostjet.analysis.report import write_report
    from boostjet.rundir import REPORT_HTML, REPORT_MARKDOWN, adopt_pickle

    if args.trust_pickle:
        adopt_pickle(args.run_dir)
    analysis = write_report(args.run_dir, log_notes=False)
    console.print(
        f"report written to {args.run_dir / REPORT_HTML} and {REPORT_MARKDOWN} ({_notes(analysis)})"
    )
    return 0


def _notes(analysis: dict[str, Any]) -> str:
    count = len(analysis["warnings"])
    return f"{count} note{'' if count == 1 else 's'} under Warnings" if count else "no notes"


def add_report_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="ROC curves, scale factors and resolutions from a run's histograms"
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="outputs/<run name>")
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="a run directory of an older boostjet: unpickle its histograms.pkl (this runs any "
        "code the file holds: only for files you trust) and save them as histograms.uhi.json.gz",
    )
    _debug_flag(parser, argparse.SUPPRESS)
    parser.set_defaults(handler=_report)


#: Registered subcommands, in the order ``--help`` lists them.
SUBCOMMANDS: list[Callable] = [
    add_generate_parser,
    add_info_parser,
    add_run_parser,
    add_dataset_parser,
    add_train_parser,
    add_report_parser,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``boostjet`` argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="boostjet", description="Boosted-jet analysis of Delphes files."
    )
    parser.add_argument("--version", action="version", version=f"boostjet {__version__}")
    _debug_flag(parser, False)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser in SUBCOMMANDS:
        add_parser(subparsers)
    return parser


def _say_error(message: str) -> None:
    console.print(message, style="bold red", markup=False, highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Run one ``boostjet`` command; returns the exit code.

    Ctrl-C and SIGTERM stop the command with exit code 130 and one line, ``interrupted`` (after
    part of a run: how many chunks are saved for ``--resume``); a second one exits at once
    (boostjet/pipeline/interrupt.py). Temporary output directories are removed on the way out.
    """
    args = build_parser().parse_args(argv)
    from boostjet.pipeline import interrupt

    with interrupt.handling_signals():
        try:
            return args.handler(args)
        except BoostjetError as error:
            if args.debug:
                raise
            _say_error(f"error: {error}")
            return 2
        except KeyboardInterrupt as interruption:
            if args.debug:
                raise
            interrupt.restore_terminal()
            _say_error(interrupt.last_line(interruption))
            return interrupt.EXIT_CODE


def console_script() -> None:
    """The ``boostjet`` executable: :func:`main`, then exit with its code (at once after an
    interruption: see :func:`boostjet.pipeline.interrupt.exiting`)."""
    from boostjet.pipeline import interrupt

    code = main()
    if code == interrupt.EXIT_CODE:
        interrupt.exiting()
    sys.exit(code)
