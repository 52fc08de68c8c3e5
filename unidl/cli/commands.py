"""What each ``unidl`` subcommand does, given its parsed arguments (see :mod:`unidl.cli.app`).

Every command validates what it can (spec file, data file, output path) before it asks for a
backend, because loading a framework takes seconds and a typo should not.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from .._distributions import install_hint
from ..api import build, load
from ..errors import (
    BackendNotFoundError,
    DataError,
    ModelFormatError,
    ShapeMismatchError,
    SpecError,
)
from ..heads import Head, output_names
from ..io import META_FILE
from ..model import Model
from ..registry import available_backends, backend_distributions, backend_names
from ..spec import Optimizer, optimizer_from
from ..spec.graph import Graph
from ..spec.serialize import ModelSpec
from .datafiles import (
    DataFile,
    assign_columns,
    check_output,
    describe,
    read_data,
    write_predictions,
)
from .specfile import SpecFile, read_spec_file

__all__ = ["backends", "convert", "evaluate", "fit", "predict", "summary"]

T = TypeVar("T")


def _pick(flag: T | None, from_file: T | None, default: T) -> T:
    """The command-line value, else the spec file's, else the default."""
    return flag if flag is not None else from_file if from_file is not None else default


def _metric_names(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def _format(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())


def _read(args: argparse.Namespace, need_y: bool = True) -> DataFile:
    return read_data(args.data, need_y=need_y, x_key=args.x_key,
                     y_key=getattr(args, "y_key", None), target=args.target)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _for_model(data: DataFile, spec: ModelSpec) -> DataFile:
    """A CSV's columns handed to a graph's inputs by name (see ``assign_columns``), after
    checking it names a target column per output."""
    outputs = output_names(spec)
    n_targets = len(data.y) if isinstance(data.y, list) else 1
    if data.columns and data.y is not None and n_targets != len(outputs):
        raise DataError(f"the model has {_count(len(outputs), 'output')} "
                        f"({', '.join(outputs)}) but {data.path.name} gives "
                        f"{_count(n_targets, 'target column')}; name one per output, in "
                        "this order, with --target COL1,COL2,...")
    if not isinstance(spec, Graph):
        return data
    return assign_columns(data, [(i.layer_name, i.shape) for i in spec.input_layers])


# -- backends ------------------------------------------------------------------------------
def backends(args: argparse.Namespace) -> int:
    if not args.verbose:  # package metadata only: no framework is imported
        found = backend_distributions()
        if args.json:
            print(json.dumps([{"name": n, "distribution": d} for n, d in found.items()],
                             indent=2))
        elif not found:
            print("no unidl backend is installed; a backend is a package registering the "
                  f"entry-point group 'unidl.backends' ({install_hint()})")
        else:
            _table([("NAME", "PACKAGE"), *found.items()])
            print("\nversions, devices and import errors: unidl backends --verbose "
                  "(imports each framework)")
        return 0 if found else 1
    infos = available_backends()
    if args.json:
        print(json.dumps([{"name": i.name, "distribution": i.distribution,
                           "importable": i.importable, "version": i.version,
                           "devices": list(i.devices), "error": i.error} for i in infos],
                         indent=2))
    elif not infos:
        print("no unidl backend is installed; a backend is a package registering the "
              f"entry-point group 'unidl.backends' ({install_hint()})")
    else:
        _table([("NAME", "VERSION", "DEVICES", "PACKAGE")] + [
            (i.name, i.version if i.importable and i.version else "(failed to load)",
             ", ".join(i.devices) or "-", i.distribution) for i in infos])
        for i in infos:
            if i.error:
                print(f"\n{i.name}: {i.error}")
    return 0 if infos and all(i.importable for i in infos) else 1


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell; the last one is left ragged."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]))


# -- fit -----------------------------------------------------------------------------------
def _optimizer(args: argparse.Namespace, doc: SpecFile) -> Optimizer:
    optimizer = optimizer_from(_pick(args.optimizer, doc.training.optimizer, "adam"))
    if args.lr is not None:
        optimizer = optimizer_from({**optimizer.to_config(), "lr": args.lr})
    return optimizer


def _backend_name(args: argparse.Namespace) -> str | None:
    """``--backend``, else ``$UNIDL_BACKEND``, else the only installed backend."""
    name: str | None = args.backend or os.environ.get("UNIDL_BACKEND") or None
    if name is None and len(backend_names()) != 1:
        installed = ", ".join(backend_names()) or f"none ({install_hint()})"
        raise BackendNotFoundError(f"no backend given: pass --backend NAME or set "
                                   f"UNIDL_BACKEND. Installed: {installed}")
    return name


def _model_dir_for_writing(path: Path) -> Path:
    if path.exists() and not (path.is_dir() and (path / META_FILE).is_file()):
        raise ModelFormatError(f"{path} exists and is not a unidl model directory; refusing "
                               "to overwrite it. Choose another --out or remove it first")
    return path


def fit(args: argparse.Namespace) -> int:
    doc = read_spec_file(args.spec)
    cfg = doc.training
    metrics = None if args.metrics is None else _metric_names(args.metrics)
    doc.heads(args.loss, metrics)  # loss and metrics valid for every output, before any work
    optimizer = _optimizer(args, doc)
    epochs: int = _pick(args.epochs, cfg.epochs, 1)
    data = _for_model(_read(args), doc.spec)
    out = _model_dir_for_writing(Path(args.out))
    seed = args.seed if args.seed is not None else cfg.seed
    model = build(doc.spec, _backend_name(args), seed=seed, device=args.device)
    model.compile(_pick(args.loss, cfg.loss, None), optimizer,
                  _pick(metrics, cfg.metrics, None), cfg.lr_schedule, cfg.loss_weights)
    split = args.validation_split if args.validation_split is not None else cfg.validation_split
    model.fit(data.xy(), epochs=epochs, batch_size=_pick(args.batch_size, cfg.batch_size, 32),
              validation_split=split, shuffle=_pick(None, cfg.shuffle, True),
              verbose=0 if args.quiet else 1, devices=args.devices)
    path = model.save(out)
    last = {k: v[-1] for k, v in model.history.items() if v}
    print(f"trained {epochs} epoch{'s' if epochs != 1 else ''} on {model.backend_name} "
          f"({model.device}, seed {model.seed}){': ' + _format(last) if last else ''}; "
          f"saved to {path}")
    return 0


# -- evaluate / predict / convert ----------------------------------------------------------
def _load(args: argparse.Namespace) -> Model:
    return load(args.model, args.backend, device=args.device)


def evaluate(args: argparse.Namespace) -> int:
    data = _read(args)
    model = _load(args)
    data = _for_model(data, model.spec)
    saved_loss = model.loss
    if args.loss is not None or args.metrics is not None:
        if args.loss is None and saved_loss is None:
            raise SpecError(f"{args.model} was saved without a loss; pass --loss NAME", "loss")
        single = not isinstance(saved_loss, dict)  # several outputs: metrics per output
        metrics = (_metric_names(args.metrics) if args.metrics is not None
                   else list(model.metrics) if single else None)
        model.compile(_pick(args.loss, saved_loss, None), model.optimizer or "adam", metrics)
    elif saved_loss is None:
        raise SpecError(f"{args.model} was saved without a loss (never trained); pass "
                        "--loss NAME to evaluate it", "loss")
    results = model.evaluate(data.xy(), batch_size=args.batch_size)
    if args.json:
        print(json.dumps(results))
    else:
        width = max(map(len, results))
        for name, value in results.items():
            print(f"{name.ljust(width)}  {value:.6g}")
    return 0


def predict(args: argparse.Namespace) -> int:
    out = check_output(args.out)
    data = _read(args, need_y=False)
    model = _load(args)
    data = _for_model(data, model.spec)
    try:
        y_pred: Any = model.predict(data.x, batch_size=args.batch_size)
    except ShapeMismatchError as e:
        if data.path.suffix.lower() == ".csv" and args.target is None:
            raise ShapeMismatchError(f"{e}. If {data.path.name} holds the target column, name "
                                     "it with --target so it is left out") from None
        raise
    names = output_names(model.spec)
    path = write_predictions(out, y_pred, names)
    print(f"wrote predictions for {len(data)} samples ({describe(y_pred, names)}) to {path}")
    return 0


def convert(args: argparse.Namespace) -> int:
    model = _load(args)
    fmt = None if args.format == "native" else args.format
    path = model.export(args.out, fmt)
    print(f"wrote {path} ({model.backend_name} format {fmt or model.backend.native_formats[0]!r}"
          f", from {args.model})")
    return 0


# -- summary -------------------------------------------------------------------------------
def _heads_text(heads: tuple[Head, ...]) -> dict[str, str]:
    if len(heads) == 1:
        return {"loss": heads[0].loss.name, "metrics": ", ".join(heads[0].metrics) or "none"}
    return {"loss": ", ".join(f"{h.name}: {h.loss.name} (weight {h.weight:g})"
                              for h in heads),
            "metrics": ", ".join(f"{h.name}: {'/'.join(h.metrics) or 'none'}"
                                 for h in heads)}


def summary(args: argparse.Namespace) -> int:
    doc = read_spec_file(args.spec)
    print(doc.spec.summary())
    cfg = doc.training
    settings: dict[str, object] = {}
    if cfg.loss is not None:
        settings.update(_heads_text(doc.heads()))
    settings.update({
        "optimizer": None if cfg.optimizer is None else
        f"{cfg.optimizer.kind}(lr={cfg.optimizer.lr:g})",
        "lr_schedule": None if cfg.lr_schedule is None else cfg.lr_schedule.kind,
        "epochs": cfg.epochs, "batch_size": cfg.batch_size,
        "validation_split": cfg.validation_split, "seed": cfg.seed, "shuffle": cfg.shuffle,
    })
    shown = {k: v for k, v in settings.items() if v is not None}
    if shown:
        print("Training: " + "; ".join(f"{k} {v}" for k, v in shown.items()))
    return 0
