"""Cost of one checkpoint file: signed UHI JSON (boostjet/pipeline/checkpoint.py) vs zlib pickle.

Runs the quickstart configuration's tt̄ dataset (every shipped model; 200-event chunks) with
checkpoints into a temporary folder, reads the chunks back, then for each chunk writes it both
ways — the current format and the compressed pickle boostjet used before (``zlib`` level 1) —
and prints bytes and the best of ``--repeat`` times to encode and write, and to read and decode.

    python benchmarks/checkpoint_cost.py [--config configs/quickstart.yaml] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import tempfile
import time
import zlib
from pathlib import Path

from boostjet.config import load_config
from boostjet.pipeline import checkpoint
from boostjet.pipeline.routes import run
from boostjet.rundir import checkpoint_directory


def best(function, repeat: int) -> float:
    """The shortest of ``repeat`` wall times of ``function()``, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--dataset", default="ttbar")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        os.environ["XDG_STATE_HOME"] = folder  # the run's key goes there, not to ~
        config = load_config(args.config, {"executor.type": "iterative", "output": folder})
        datasets = {args.dataset: config.datasets[args.dataset]}
        config = config.model_copy(update={"datasets": datasets})
        partial = checkpoint_directory(config)
        run(config, checkpoint=partial)
        store, saved = checkpoint.prepare(partial, saved_fingerprint(partial), resume=True)
        print(f"{len(saved)} chunks of {args.dataset}, {config.executor.chunksize} events each")
        print(
            "chunk                     UHI JSON+HMAC: bytes  write ms  read ms | "
            "zlib pickle: bytes  write ms  read ms"
        )
        old = Path(folder) / "old.chunk"
        for key, output in saved.items():
            new = partial / f"{key}{checkpoint.SUFFIX}"
            write_new = best(lambda k=key, o=output: store.save(k, o), args.repeat)
            read_new = best(lambda n=new: store.load(n), args.repeat)

            def write_old(o=output):
                old.write_bytes(zlib.compress(pickle.dumps(o, pickle.HIGHEST_PROTOCOL), 1))

            write_pickle = best(write_old, args.repeat)
            read_pickle = best(lambda: pickle.loads(zlib.decompress(old.read_bytes())), args.repeat)
            print(
                f"{key}  {new.stat().st_size:18,d}  {write_new:8.1f}  {read_new:7.1f} | "
                f"{old.stat().st_size:18,d}  {write_pickle:8.1f}  {read_pickle:7.1f}"
            )


def saved_fingerprint(partial: Path) -> str:
    """The fingerprint the run wrote into ``meta.json``."""
    return json.loads((partial / checkpoint.META).read_text())["fingerprint"]


if __name__ == "__main__":
    main()
