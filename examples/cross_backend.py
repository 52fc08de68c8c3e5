"""Train on one framework, save, load on the other: the same model, the same predictions.

    python examples/cross_backend.py [--train-on torch] [--save-dir DIR]
                                     [--backend torch|keras|all] [--epochs 5] [--seed 0]

torch.save(model.state_dict()) stores weights only (the nn.Module class must be defined
again to load them); Keras' model.save / load_model stores the whole model, for Keras only.
unidl saves one portable directory (spec.json, weights.safetensors, meta.json; no pickle)
that every backend loads. A small CNN with BatchNorm (channels-last convolutions, moving
statistics, flatten order: what usually breaks when weights move between frameworks) is
trained on --train-on, saved, and loaded on each backend of --backend; each row shows the
largest difference between the loaded model's predictions and the trained model's, and
evaluate() on the loaded model. With one backend installed the round trip runs on that one.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    base_parser,
    note,
    numbers,
    print_table,
    select_backends,
    verbosity,
    warm_up,
)
from _datasets import load_images

import unidl


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = base_parser(__doc__, epochs=5)
    parser.add_argument("--train-on", default=None,
                        help="backend that trains the model (default: torch if selected, "
                             "else the first selected backend)")
    parser.add_argument("--save-dir", type=Path, default=None,
                        help="where to save the model (default: a new temporary directory)")
    args = parser.parse_args(argv)
    backends = select_backends(parser, args.backend)
    train_on = args.train_on or ("torch" if "torch" in backends else backends[0])
    select_backends(parser, train_on)  # must be installed too
    if len(unidl.backend_names()) == 1:
        note(f"only one backend is installed ({train_on}), so the model makes the round trip "
             f"{train_on} -> file -> {train_on}; install another (pip install unidl-torch / "
             f"unidl-keras) to load it on a second framework")
    elif backends == [train_on]:
        note(f"only {train_on} selected: round trip {train_on} -> file -> {train_on}")

    data = load_images(None, seed=args.seed)  # scikit-learn's shipped 8x8 digits
    x_train, y_train = data.x_train[..., None], data.y_train
    x_test, y_test = data.x_test[..., None], data.y_test
    spec = unidl.Sequential([
        unidl.Input(x_train.shape[1:]),
        unidl.Conv2D(16, 3, padding="same", use_bias=False),  # BatchNorm adds the shift
        unidl.BatchNorm(momentum=0.9),
        unidl.Activation("relu"),
        unidl.MaxPool2D(2),
        unidl.Flatten(),
        unidl.Dense(32, activation="relu"),
        unidl.Dense(data.classes, activation="softmax"),
    ])

    for name in dict.fromkeys([train_on, *backends]):
        warm_up(spec, name, args.device)  # time training and loading, not imports
    start = time.perf_counter()
    trained = unidl.fit(spec, (x_train, y_train), backend=train_on,
                        loss="sparse_categorical_crossentropy", optimizer=unidl.Adam(lr=1e-3),
                        metrics=["accuracy"], epochs=args.epochs, batch_size=32,
                        seed=args.seed, device=args.device, verbose=verbosity(args.verbose))
    reference = trained.predict(x_test)
    before = trained.evaluate((x_test, y_test))
    path = trained.save((args.save_dir or Path(tempfile.mkdtemp(prefix="unidl-cross-")))
                        / "digits-cnn")
    print(f"trained on {train_on} ({trained.device}) for {args.epochs} epochs on "
          f"scikit-learn's 8x8 digits in "
          f"{time.perf_counter() - start:.1f}s: test loss {before['loss']:.4f}, test "
          f"accuracy {before['accuracy']:.4f}")
    print(f"saved to {path}: {', '.join(sorted(p.name for p in path.iterdir()))}")

    rows: dict[str, dict[str, float | str]] = {}
    for name in backends:
        start = time.perf_counter()
        loaded = unidl.load(path, backend=name, device=args.device)
        took = time.perf_counter() - start
        test = loaded.evaluate((x_test, y_test))
        rows[name] = {
            "device": loaded.device,
            "trained on": train_on,
            "max |pred diff|": float(np.abs(loaded.predict(x_test) - reference).max()),
            "test loss": test["loss"],
            "|loss diff|": abs(test["loss"] - before["loss"]),
            "test acc": test["accuracy"],
            "load s": took,
        }
    print_table(rows, {"max |pred diff|": ".2e", "|loss diff|": ".2e", "load s": ".2f"})
    worst = max(r["max |pred diff|"] for r in numbers(rows).values())
    verdict = "the same model" if worst < 1e-4 else "DIFFERENT models: please report this"
    print(f"\nlargest prediction difference after loading: {worst:.2e} ({verdict})")
    return numbers(rows)


if __name__ == "__main__":
    main()
