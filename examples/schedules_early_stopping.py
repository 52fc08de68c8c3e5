"""Learning-rate schedule + early stopping + TensorBoard, the same on every backend.

    python examples/schedules_early_stopping.py [--schedule plateau|step|exponential|cosine]
        [--patience 5] [--logdir DIR] [--backend torch|keras|all] [--epochs 100] [--seed 0]

What torch.optim.lr_scheduler (StepLR, ExponentialLR, CosineAnnealingLR,
ReduceLROnPlateau), tf.keras.callbacks.EarlyStopping and SummaryWriter/add_scalar do in the
two frameworks, written once: a digits classifier (scikit-learn's shipped 8x8 digits) trained
for at most --epochs epochs with an lr schedule, EarlyStopping(restore_best_weights=True)
on the validation loss, and a TensorBoard callback writing one run per backend under
--logdir (default: a new temporary directory). The table shows when each backend stopped,
the best validation loss, the validation loss after the best weights were restored (the
same number) and the final learning rate.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    base_parser,
    note,
    numbers,
    positive_int,
    print_table,
    select_backends,
    verbosity,
    warm_up,
)
from _datasets import load_images
from sklearn.model_selection import train_test_split

import unidl
from unidl.training.schedules import Schedule

SCHEDULES = ("plateau", "step", "exponential", "cosine")


def make_schedule(kind: str, epochs: int) -> Schedule:
    """The schedule named on the command line (the same rule on every backend)."""
    if kind == "plateau":  # halve the rate after 2 epochs without a better val_loss
        return unidl.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                       min_lr=1e-5)
    if kind == "step":  # halve it every 10 epochs
        return unidl.StepLR(step_size=10, gamma=0.5)
    if kind == "exponential":
        return unidl.ExponentialLR(gamma=0.95)
    return unidl.CosineAnnealingLR(T_max=epochs)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = base_parser(__doc__, epochs=100)
    parser.add_argument("--schedule", choices=SCHEDULES, default="plateau",
                        help="learning-rate schedule (default plateau: ReduceLROnPlateau)")
    parser.add_argument("--lr", type=float, default=0.01, help="initial Adam learning rate")
    parser.add_argument("--patience", type=int, default=5,
                        help="EarlyStopping patience in epochs (default 5)")
    parser.add_argument("--logdir", type=Path, default=None,
                        help="TensorBoard log directory (default: a new temporary directory)")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    args = parser.parse_args(argv)
    backends = select_backends(parser, args.backend)
    if args.patience < 0:
        parser.error(f"--patience must be >= 0, got {args.patience}")

    data = load_images(None, seed=args.seed)
    x = data.x_train.reshape(len(data.x_train), -1)
    x_train, x_val, y_train, y_val = train_test_split(x, data.y_train, test_size=0.2,
                                                      random_state=args.seed,
                                                      stratify=data.y_train)
    x_test = data.x_test.reshape(len(data.x_test), -1)
    spec = unidl.Sequential([
        unidl.Input((x.shape[1],)),
        unidl.Dense(64, activation="relu"),
        unidl.Dense(data.classes, activation="softmax"),
    ])
    schedule = make_schedule(args.schedule, args.epochs)
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    print(f"scikit-learn's 8x8 digits: {len(x_train)} train / {len(x_val)} validation / "
          f"{len(x_test)} test images; at most {args.epochs} epochs of Adam(lr={args.lr})\n"
          f"lr schedule: {schedule}\n"
          f"callbacks: EarlyStopping(monitor='val_loss', patience={args.patience}, "
          f"restore_best_weights=True)"
          f"{', TensorBoard' if tensorboard else ''}")

    logdir = args.logdir or Path(tempfile.mkdtemp(prefix="unidl-tensorboard-"))
    if not tensorboard:
        note("the tensorboard package is not installed, so no logs are written "
             "(pip install tensorboard)")

    rows: dict[str, dict[str, float | str]] = {}
    for name in backends:
        stopper = unidl.EarlyStopping(monitor="val_loss", patience=args.patience,
                                      restore_best_weights=True)
        callbacks: list[unidl.Callback] = [stopper]
        if tensorboard:
            callbacks.append(unidl.TensorBoard(logdir / name))
        warm_up(spec, name, args.device)  # time training, not the framework's import
        if args.verbose:
            print(f"\n{name}:")
        start = time.perf_counter()
        model = unidl.fit(spec, (x_train, y_train), backend=name,
                          loss="sparse_categorical_crossentropy",
                          optimizer=unidl.Adam(lr=args.lr), metrics=["accuracy"],
                          lr_schedule=schedule, epochs=args.epochs,
                          batch_size=args.batch_size, validation_data=(x_val, y_val),
                          callbacks=callbacks, seed=args.seed, device=args.device,
                          verbose=verbosity(args.verbose))
        took = time.perf_counter() - start
        ran = len(model.history["loss"])
        assert stopper.best is not None and stopper.best_epoch is not None
        restored = model.evaluate((x_val, y_val))  # the best epoch's weights are back
        rows[name] = {
            "device": model.device,
            "epochs run": ran,
            "stopped early": "yes" if stopper.stopped_epoch is not None else "no",
            "best epoch": stopper.best_epoch + 1,
            "best val loss": stopper.best,
            "restored val loss": restored["loss"],
            "final lr": model.history["lr"][-1],
            "lr changes": int(np.count_nonzero(np.diff(model.history["lr"]))),
            "test acc": model.evaluate((x_test, data.y_test))["accuracy"],
            "time s": took,
        }
    print_table(rows, {"final lr": ".2e", "time s": ".1f"})
    if tensorboard:
        print(f"\nTensorBoard logs (one run per backend): {logdir}\n"
              f"view them with: tensorboard --logdir {logdir}")
    return numbers(rows)


if __name__ == "__main__":
    main()
