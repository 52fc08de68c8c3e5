"""The Keras-on-torch contender's process (started by ``_contenders.keras_torch_runner``).

    KERAS_BACKEND=torch python benchmarks/_keras_child.py WORKLOAD EPOCHS fresh|steady

Builds and warms up ``keras.Model.fit`` for the workload, prints ``{"ready": true}``, then
for every line read from stdin trains once and prints ``{"seconds": ...}``; exits at the
end of stdin. Prints ``{"skip": reason}`` and exits when Keras cannot run on torch here.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

from _contenders import Skip, keras_fit_runner, require
from _workloads import workload


def main() -> None:
    key, epochs, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    try:
        require("torch")
        run = keras_fit_runner(workload(key), epochs, fresh=mode == "fresh")
        import keras

        if keras.backend.backend() != "torch":
            raise Skip(f"keras runs on {keras.backend.backend()} (KERAS_BACKEND="
                       f"{os.environ.get('KERAS_BACKEND')!r})")
    except Skip as e:
        print(json.dumps({"skip": str(e)}), flush=True)
        return
    print(json.dumps({"ready": True}), flush=True)
    for _ in sys.stdin:
        gc.collect()
        start = time.perf_counter()
        run()
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


if __name__ == "__main__":
    main()
