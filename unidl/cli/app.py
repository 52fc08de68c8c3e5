"""The ``unidl`` command line: train, evaluate, predict and convert models from the shell.

``main(argv)`` parses the arguments (:func:`build_parser`), runs one subcommand from
:mod:`unidl.cli.commands` and turns failures into exit codes: every ``UnidlError`` and
missing file is one ``error: ...`` line on stderr and exit status 1, never a traceback.
Only the backend registry ever imports a framework, and only once a command needs one.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Final

from .._version import __version__
from ..errors import UnidlError, short
from . import commands

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

EXIT_CODES: Final = """\
exit status:
  0    success
  1    error: an invalid spec, data file, saved model or backend, a missing file (one
       "error: ..." line on stderr); for `backends`, no backend installed, or (with
       --verbose) a plugin that failed to load
  2    usage error: unknown option, missing or malformed argument
  130  interrupted (Ctrl-C)"""

DESCRIPTION: Final = """\
Train, evaluate and convert unidl models from the shell. A model spec, written once as
YAML or JSON, trains on any installed backend (see `unidl backends`); a saved model
directory loads on any backend, whichever one trained it."""

EXAMPLES: Final = """\
examples:
  unidl summary model.yaml
  unidl fit model.yaml --data train.csv --target price --backend torch --epochs 20 --out m
  unidl evaluate m --data test.csv --target price --backend keras
  unidl predict m --data new.npz --out predictions.csv
  unidl convert m --backend torch --out m.pt"""

SPEC_FILE_HELP: Final = """\
SPEC file: YAML or JSON, either a bare model spec (what spec.to_yaml() writes) or a
mapping with the spec under `model:` and training settings under `training:`; a saved
model directory's spec.json is one too. Command-line options override the file:

  model:
    layers:
    - {class: Input, shape: [4]}
    - {class: Dense, units: 16, activation: relu}
    - {class: Dense, units: 3, activation: softmax}
  training:
    loss: sparse_categorical_crossentropy       # or {name: ..., from_logits: ...}; for
                                                # several outputs {output: loss, ...}
    optimizer: {class: Adam, lr: 1e-3}          # or a name: adam, sgd, rmsprop, ...
    metrics: [accuracy]
    epochs: 20
    batch_size: 32
    validation_split: 0.2                       # also: seed, shuffle, lr_schedule"""

DATA_HELP: Final = """\
data files: .npz with arrays x and y (choose with --x-key/--y-key; a comma-separated list,
e.g. --x-key a,b, gives a multi-input or multi-output model a dict of arrays keyed by
name), or .csv with a header row and numeric columns, the target being the column named by
--target (default: the last one; --target a,b for a multi-output model, in output order).
A multi-input model takes a CSV too: each input named like a column takes that column, and
one input may be named like none and take the remaining columns (as in
examples/tabular_embeddings.py: a column per categorical input, the numeric features for
the numeric input)."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {short(text)}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {short(text)}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {short(text)}")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {short(text)}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _parent(*adders: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    for add in adders:
        add(parser)
    return parser


def _data_options(p: argparse.ArgumentParser, targets: bool = True) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, metavar="FILE",
                   help="data file: .npz (arrays x, y) or .csv (header row, numeric columns)")
    g.add_argument("--x-key", metavar="NAME", help="input array(s) in an .npz, comma-separated "
                   "for a multi-input model (default: x)")
    if targets:
        g.add_argument("--y-key", metavar="NAME", help="target array(s) in an .npz, "
                       "comma-separated for a multi-output model (default: y)")
        g.add_argument("--target", metavar="COL",
                       help="target column of a CSV (default: the last column); "
                       "comma-separated, one per output in output order, for a "
                       "multi-output model")
    else:
        g.add_argument("--target", metavar="COL",
                       help="CSV column(s) to leave out, e.g. the target (default: none)")


def _backend_options(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_argument_group("backend")
    g.add_argument("--backend", metavar="NAME",
                   help=f"backend to {what}; `unidl backends` lists them")
    g.add_argument("--device", default="auto", metavar="DEV",
                   help="device: auto (default), cpu, cuda, cuda:1, ...")


def _batch_size(p: argparse._ActionsContainer, default: int | None) -> None:
    shown = "from SPEC, else 32" if default is None else str(default)
    p.add_argument("--batch-size", type=_int_at_least(1), default=default, metavar="N",
                   help=f"samples per batch (default: {shown})")


def _subparser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
               summary: str, description: str, run: Callable[[argparse.Namespace], int],
               parents: Sequence[argparse.ArgumentParser] = (), epilog: str = ""
               ) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=summary, description=textwrap.dedent(description).strip(),
                       epilog="\n\n".join(filter(None, [epilog, EXIT_CODES])),
                       formatter_class=_Formatter, parents=list(parents))
    p.set_defaults(run=run)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unidl", description=DESCRIPTION, formatter_class=_Formatter,
        epilog=f"{EXAMPLES}\n\nRun `unidl COMMAND --help` for a command's options.\n\n"
               f"{EXIT_CODES}")
    parser.add_argument("--version", action="version", version=f"unidl {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command",
                                required=True)
    data = _parent(_data_options)
    inputs = _parent(lambda q: _data_options(q, targets=False))

    p = _subparser(sub, "backends", "list installed backends (--verbose: versions, devices)",
                   """
        List the installed unidl backends (entry-point group `unidl.backends`) and the
        package of each, from package metadata: fast, no framework is imported. With
        --verbose, also each backend's version, its available devices and the import
        error of any plugin that fails to load (this imports every backend's
        framework).""", commands.backends)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="import each backend: versions, devices, import errors")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")

    p = _subparser(sub, "fit", "train a model spec on a data file and save it", """
        Build the model in SPEC on a backend, train it on --data and save it to --out (a
        portable model directory any backend loads). Prints one line per epoch and a final
        line with the metrics and where the model was saved.""", commands.fit,
                   [data, _parent(lambda q: _backend_options(q, "train on (default: "
                                                             "$UNIDL_BACKEND, or the only one "
                                                             "installed)"))],
                   f"{SPEC_FILE_HELP}\n\n{DATA_HELP}")
    p.add_argument("spec", metavar="SPEC", help="model spec file (.yaml, .yml or .json)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to save the model")
    g = p.add_argument_group("training (each overrides SPEC's training: section)")
    g.add_argument("--epochs", type=_int_at_least(0), metavar="N",
                   help="epochs to train (default: from SPEC, else 1)")
    _batch_size(g, None)
    g.add_argument("--loss", metavar="NAME",
                   help="loss, e.g. mse, sparse_categorical_crossentropy (required if SPEC "
                        "has none)")
    g.add_argument("--optimizer", metavar="NAME",
                   help="optimizer: adam (default), adamw, sgd, rmsprop, adagrad, adadelta")
    g.add_argument("--lr", type=_positive_float, metavar="RATE", help="learning rate")
    g.add_argument("--metrics", metavar="A,B", help="comma-separated metric names, e.g. "
                   "accuracy,f1 or mae,r2 ('' for none)")
    g.add_argument("--validation-split", type=_fraction, metavar="F",
                   help="hold out the last fraction F of the data for validation")
    g.add_argument("--seed", type=_int_at_least(0), metavar="N",
                   help="seed for initial weights and batch order (default: random, printed)")
    g.add_argument("--devices", type=_int_at_least(1), metavar="N",
                   help="train data-parallel on N local workers, batch size global "
                        "(torch; docs/distributed.md)")
    g.add_argument("-q", "--quiet", action="store_true",
                   help="no per-epoch progress, only the final line")

    p = _subparser(sub, "evaluate", "loss and metrics of a saved model on a data file", """
        Load a saved model (on its own backend, or --backend) and print its loss and
        metrics on --data, in inference mode.""", commands.evaluate,
                   [data, _parent(lambda q: _backend_options(q, "load on (default: the one "
                                                             "it was saved from)"))],
                   DATA_HELP)
    p.add_argument("model", metavar="DIR", help="saved model directory")
    _batch_size(p, 256)
    p.add_argument("--loss", metavar="NAME", help="evaluate with this loss instead of the "
                   "saved one (needed if the model was saved untrained)")
    p.add_argument("--metrics", metavar="A,B", help="comma-separated metrics instead of the "
                   "saved ones")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")

    p = _subparser(sub, "predict", "write a saved model's predictions for a data file", """
        Load a saved model and write its outputs for the inputs in --data to --out: .npy,
        .npz (array y_pred; several outputs keyed by output name) or .csv (column y_pred,
        or y_pred_0, y_pred_1, ... for several units). Only inputs are read: an .npz needs
        only x (or the arrays --x-key names); all CSV columns are inputs except --target
        if given.""", commands.predict,
                   [inputs, _parent(lambda q: _backend_options(q, "load on (default: the one "
                                                             "it was saved from)"))])
    p.add_argument("model", metavar="DIR", help="saved model directory")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="predictions file: .npy, .npz or .csv")
    _batch_size(p, 256)

    p = _subparser(sub, "convert", "write a saved model's backend-native artifact", """
        Load a saved model on a backend and export the backend's own artifact (e.g. a
        state_dict file for torch, a .keras file for keras), for use without unidl.""",
                   commands.convert,
                   [_parent(lambda q: _backend_options(q, "export from (default: the one "
                                                       "it was saved from)"))])
    p.add_argument("model", metavar="DIR", help="saved model directory")
    p.add_argument("--format", default="native", metavar="NAME",
                   help="native (default: the backend's first native format) or a format "
                        "name the backend lists")
    p.add_argument("--out", required=True, metavar="PATH", help="file to write")

    p = _subparser(sub, "summary", "print a spec's layers, shapes and parameter counts", """
        Validate a spec file and print its summary: each layer's output shape and
        parameter count, and the training settings if the file has any. Errors point at
        the file's line.""", commands.summary, epilog=SPEC_FILE_HELP)
    p.add_argument("spec", metavar="SPEC",
                   help="model spec file (.yaml, .yml, .json) or saved model directory")
    return parser


def _error(message: str) -> int:
    print("error: " + message.replace("\n", " "), file=sys.stderr)
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    """Run the ``unidl`` command line with ``argv`` (default: ``sys.argv[1:]``); returns the
    exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error (already printed)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UnidlError as e:
        return _error(str(e))
    except FileNotFoundError as e:
        return _error(f"no such file or directory: {e.filename or e}")
    except OSError as e:  # permissions, a full disk, ...
        where = f"{e.filename}: " if e.filename else ""
        return _error(f"{where}{e.strerror or e}")
