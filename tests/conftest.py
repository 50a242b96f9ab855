"""Shared test setup: keep tool state inside build/, make tools/ importable, skip
TensorFlow-only tests on the other Keras backends, switch JAX to float64 where a test needs it."""

import contextlib
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "build" / "state"
for var, sub in (("JUPYTER_DATA_DIR", "jupyter-data"), ("JUPYTER_CONFIG_DIR", "jupyter-config"),
                 ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython"),
                 ("KERAS_HOME", "keras"), ("MPLCONFIGDIR", "matplotlib")):
    os.environ.setdefault(var, str(STATE / sub))
    Path(os.environ[var]).mkdir(parents=True, exist_ok=True)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(ROOT / "tools"))


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``tensorflow_only`` unless Keras runs on TensorFlow."""
    marked = [item for item in items if item.get_closest_marker("tensorflow_only")]
    if not marked:
        return
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs TensorFlow itself; Keras runs on {backend!r} (KERAS_BACKEND)")
    for item in marked:
        item.add_marker(skip)


@pytest.fixture
def x64():
    """A context factory for float64 computations: JAX computes in float64 only with x64 on.

    ``with x64(): ...`` turns it on for the block on JAX and does nothing on the other backends.
    """
    def context():
        import keras

        if keras.backend.backend() == "jax":
            import jax

            return jax.enable_x64(True)
        return contextlib.nullcontext()

    return context
