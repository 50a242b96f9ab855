"""What every benchmark script shares: timing, the machine line, and writing results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results"


def median_time(fn, repeats: int):
    """``(median seconds, all times, last value)`` of ``repeats`` calls of ``fn``."""
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, value


def device_kind() -> str:
    """``"gpu"`` or ``"cpu"``: where the current Keras backend computes."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()[0].platform
    if keras.backend.backend() == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def machine(extra: str = "") -> str:
    line = f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    return f"{line}, {extra}" if extra else line


def update_readme_block(name: str, block: str) -> None:
    """Replace the README text between <!-- bench:NAME --> and <!-- /bench:NAME -->."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if start not in text or end not in text:
        raise ValueError(f"README.md has no {start} ... {end} block to refresh")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{block}{end}{tail}")


def write_results(name: str, res: dict, block: str) -> None:
    """Write ``results/NAME.json`` and ``.md``, refresh the README block, print the table."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
    (OUT / f"{name}.md").write_text(block)
    update_readme_block(name, block)
    print(block)
