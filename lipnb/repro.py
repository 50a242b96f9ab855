"""Seeding, notebook parameters and machine-readable claims.

Every notebook starts with one cell of papermill parameters (plain literals) and
then calls :func:`start_notebook`, which

* rejects an unknown profile or any parameter the notebook does not read,
* seeds Python, numpy and TensorFlow and turns on deterministic ops,
* sets the shared matplotlib style, and
* returns a :class:`NotebookRun` whose ``size`` holds the profile's sizes.

The notebook records each checked claim with :meth:`NotebookRun.claim` and ends with
:meth:`NotebookRun.finish`, which writes ``results/NN_name.json`` when run by
``make reproduce`` (the runner sets ``LIPNB_RESULTS_PATH``).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import random
import re
import types
from typing import Any, Mapping

import numpy as np

__all__ = ["PROFILES", "seed_everything", "start_notebook", "NotebookRun", "jsonable"]

PROFILES = ("smoke", "quick", "full")
RESULTS_ENV = "LIPNB_RESULTS_PATH"

# Names IPython puts in a kernel's namespace that are not parameters.
_KERNEL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_LITERAL_TYPES = (str, int, float, bool, type(None), list, tuple, dict)


def seed_everything(seed: int, deterministic: bool = True) -> np.random.Generator:
    """Seed Python, numpy, TensorFlow and Keras in one call.

    Args:
        seed: non-negative integer.
        deterministic: also enable TensorFlow's deterministic ops, so that the same
            run on CPU gives the same numbers.

    Returns:
        A fresh ``np.random.Generator`` seeded with ``seed``.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return np.random.default_rng(seed)


def jsonable(value: Any, where: str = "value") -> Any:
    """Convert numpy scalars/arrays (nested in dicts and lists) to JSON types.

    Raises ``ValueError`` on NaN or infinity: a measured value must be a number.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"{where} is not finite ({f})")
        return f
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value.tolist())]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ValueError(f"{where} has type {type(value).__name__}, which is not JSON-serializable")


class NotebookRun:
    """State of one notebook execution: profile, sizes, seed and recorded claims."""

    def __init__(self, name: str, profile: str, seed: int, size: Mapping[str, Any]):
        self.name = name
        self.profile = profile
        self.seed = seed
        self.size = types.SimpleNamespace(**size)
        self.claims: list[dict] = []

    def claim(self, id: str, statement: str, article: str, measured: Mapping[str, Any],
              holds, note: str = "") -> dict:
        """Record one checked claim.

        Args:
            id: short unique slug, e.g. ``"frobenius-bounds-spectral"``.
            statement: one sentence saying what was checked.
            article: where the article makes it, e.g. ``"eq. (10)"``.
            measured: the numbers the verdict is computed from.
            holds: the verdict, a boolean computed from ``measured``.
            note: optional context, e.g. why a claim does not hold at this scale.
        """
        if not isinstance(id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", id):
            raise ValueError(f"claim id must be a lowercase slug, got {id!r}")
        if any(c["id"] == id for c in self.claims):
            raise ValueError(f"claim id {id!r} is recorded twice")
        for field, text in (("statement", statement), ("article", article)):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"claim {id!r}: {field} must be a non-empty string")
        if not isinstance(measured, Mapping) or not measured:
            raise ValueError(f"claim {id!r}: measured must be a non-empty dict of numbers")
        if not isinstance(holds, (bool, np.bool_)):
            raise ValueError(f"claim {id!r}: holds must be a boolean, got {type(holds).__name__}")
        entry = {
            "id": id,
            "statement": statement.strip(),
            "article": article.strip(),
            "measured": jsonable(measured, f"claim {id!r} measured"),
            "holds": bool(holds),
        }
        if note:
            entry["note"] = str(note).strip()
        self.claims.append(entry)
        return entry

    def results(self) -> dict:
        return {
            "notebook": self.name,
            "profile": self.profile,
            "seed": self.seed,
            "claims": list(self.claims),
        }

    def finish(self) -> dict:
        """Write the results file (when run by the pipeline) and show the verdicts."""
        if not self.claims:
            raise ValueError(f"{self.name} recorded no claims")
        data = self.results()
        path = os.environ.get(RESULTS_ENV)
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=False)
                fh.write("\n")
        width = max(len(c["id"]) for c in self.claims)
        for c in self.claims:
            verdict = "holds" if c["holds"] else "DOES NOT HOLD"
            print(f"{c['id']:<{width}}  {c['article']:<16} {verdict}")
        return data


def start_notebook(name: str, namespace: Mapping[str, Any], profiles: Mapping[str, Mapping],
                   parameters: tuple[str, ...] = ("profile", "seed")) -> NotebookRun:
    """Validate a notebook's parameters, seed everything and pick the profile's sizes.

    Args:
        name: the notebook's file stem, e.g. ``"01_lipschitz_constraint"``.
        namespace: the notebook's ``globals()``, holding the parameters cell's values.
        profiles: ``{"smoke": {...}, "quick": {...}, "full": {...}}`` with the same keys.
        parameters: the names the parameters cell defines; ``profile`` and ``seed`` are
            required.

    Raises:
        ValueError: an unknown profile, a parameter the notebook does not read (for
            example one injected by ``papermill -p``), or malformed profiles.
    """
    unknown = sorted(
        key for key, value in namespace.items()
        if not key.startswith("_") and key not in _KERNEL_NAMES and key not in parameters
        and isinstance(value, _LITERAL_TYPES)
    )
    if unknown:
        raise ValueError(
            f"{name}: unknown parameter(s) {', '.join(unknown)}; "
            f"this notebook reads only {', '.join(parameters)}"
        )
    missing = [p for p in ("profile", "seed") + tuple(parameters) if p not in namespace]
    if missing:
        raise ValueError(f"{name}: the parameters cell does not define {', '.join(missing)}")
    if set(profiles) != set(PROFILES):
        raise ValueError(f"{name}: profiles must be exactly {PROFILES}, got {tuple(profiles)}")
    keys = {p: set(v) for p, v in profiles.items()}
    if len({frozenset(k) for k in keys.values()}) != 1:
        raise ValueError(f"{name}: every profile must define the same sizes, got {keys}")
    profile = namespace["profile"]
    if profile not in profiles:
        raise ValueError(f"{name}: unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    seed = namespace["seed"]
    seed_everything(seed)
    from lipnb.plotting import use_style

    use_style()
    return NotebookRun(name, profile, int(seed), profiles[profile])
