"""Seeding, notebook parameters and machine-readable claims.

Every notebook starts with one cell of papermill parameters (plain literals) and
then calls :func:`start_notebook`, which

* rejects an unknown profile or any parameter the notebook does not read,
* seeds Python, numpy and TensorFlow and turns on deterministic ops,
* sets the shared matplotlib style, and
* returns a :class:`NotebookRun` whose ``size`` holds the profile's sizes.

The notebook records each checked claim with :meth:`NotebookRun.claim` and ends with
:meth:`NotebookRun.finish`, which writes ``results/NN_name.json`` when run by
``make reproduce`` (the runner sets ``LIPNB_RESULTS_PATH``) and shows the findings as a
table. Verdicts follow the protocol of :mod:`lipnb.stats`.
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

from lipnb.validation import nonnegative_int

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
            run on CPU gives the same numbers. With them on, TF 2.21 logs a spurious
            "NodeDef mentions attribute use_unbounded_threadpool" error whenever
            ``model.predict``/``fit``/``evaluate`` meet a partial last batch (a tf.data
            rewrite bug); :func:`lipnb.predict` calls the model directly and avoids it.

    Returns:
        A fresh ``np.random.Generator`` seeded with ``seed``.
    """
    seed = nonnegative_int(seed, "seed")
    random.seed(seed)
    np.random.seed(seed)
    import keras

    from lipnb import backend

    keras.utils.set_random_seed(seed)
    if deterministic and backend.name() == "tensorflow":
        import tensorflow as tf

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


class ClaimRecord(dict):
    """A recorded claim: the JSON entry, shown in a notebook as one line with its verdict."""

    def summary(self) -> str:
        from lipnb.tables import evidence_text

        estimate = evidence_text(self.get("evidence"))
        return f"{self['id']} ({self['kind']}): {self['verdict']}" + (f"; {estimate}" if estimate else "")

    def __repr__(self) -> str:
        return self.summary()

    def _repr_markdown_(self) -> str:
        verdict = self["verdict"] if self["verdict"] == "holds" else f"**{self['verdict']}**"
        return self.summary().replace(f": {self['verdict']}", f": {verdict}", 1).replace(
            self["id"], f"`{self['id']}`", 1)


class NotebookRun:
    """State of one notebook execution: profile, sizes, seed and recorded claims."""

    def __init__(self, name: str, profile: str, seed: int, size: Mapping[str, Any]):
        self.name = name
        self.profile = profile
        self.seed = seed
        self.size = types.SimpleNamespace(**size)
        self.claims: list[dict] = []

    def claim(self, id: str, statement: str, article: str, kind: str, measured: Mapping[str, Any],
              holds=None, evidence=None, verdict: str | None = None, note: str = "") -> dict:
        """Record one claim and its verdict.

        Give exactly one of ``holds``, ``evidence`` or ``verdict``:

        * ``holds``: a boolean for a deterministic check (an identity, a bound on one
          computation); the verdict is "holds" or "does not hold".
        * ``evidence``: a :class:`lipnb.stats.Evidence`, or a dict of named parts that
          must all hold, for any claim that compares methods, settings or seeds; the
          verdict follows from the confidence intervals (:mod:`lipnb.stats`).
        * ``verdict="inconclusive"``: the experiment cannot decide the claim at this
          scale (for example, the effect it is about never appears); ``note`` must say
          what would decide it.

        Args:
            id: short unique slug, e.g. ``"frobenius-bounds-spectral"``.
            statement: one sentence saying what was checked.
            article: where the article makes it, e.g. ``"eq. (10)"``.
            kind: ``"article"`` (the article states it), ``"erratum"`` (the article is
                wrong here), ``"gap"`` (a condition the article leaves out) or
                ``"beyond"`` (our own check).
            measured: the numbers the verdict is computed from.
            note: context; required when the verdict is "inconclusive".
        """
        from lipnb.stats import KINDS, VERDICTS, Evidence, evidence_verdict

        if not isinstance(id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", id):
            raise ValueError(f"claim id must be a lowercase slug, got {id!r}")
        if any(c["id"] == id for c in self.claims):
            raise ValueError(f"claim id {id!r} is recorded twice")
        for field, text in (("statement", statement), ("article", article)):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"claim {id!r}: {field} must be a non-empty string")
        if kind not in KINDS:
            raise ValueError(f"claim {id!r}: kind must be one of {KINDS}, got {kind!r}")
        if not isinstance(measured, Mapping) or not measured:
            raise ValueError(f"claim {id!r}: measured must be a non-empty dict of numbers")
        given = [name for name, value in (("holds", holds), ("evidence", evidence), ("verdict", verdict))
                 if value is not None]
        if len(given) != 1:
            raise ValueError(f"claim {id!r}: give exactly one of holds, evidence or verdict, got {given or 'none'}")
        entry = {"id": id, "statement": statement.strip(), "article": article.strip(), "kind": kind,
                 "measured": jsonable(measured, f"claim {id!r} measured")}
        if holds is not None:
            if not isinstance(holds, (bool, np.bool_)):
                raise ValueError(f"claim {id!r}: holds must be a boolean, got {type(holds).__name__}")
            entry["verdict"] = "holds" if holds else "does not hold"
        elif evidence is not None:
            if isinstance(evidence, Evidence):
                entry["evidence"] = jsonable(evidence.as_dict(), f"claim {id!r} evidence")
            elif isinstance(evidence, Mapping) and evidence and all(isinstance(e, Evidence) for e in evidence.values()):
                entry["evidence"] = {str(k): jsonable(e.as_dict(), f"claim {id!r} evidence.{k}")
                                     for k, e in evidence.items()}
            else:
                raise ValueError(f"claim {id!r}: evidence must be a lipnb.stats.Evidence or a non-empty "
                                 f"dict of them, got {type(evidence).__name__}")
            entry["verdict"] = evidence_verdict(evidence)
        else:
            if verdict != "inconclusive":
                raise ValueError(f"claim {id!r}: only verdict='inconclusive' may be given directly "
                                 f"(got {verdict!r}); a decided verdict needs holds= or evidence=")
            entry["verdict"] = verdict
        if entry["verdict"] == "inconclusive" and not (note or "").strip():
            raise ValueError(f"claim {id!r} is inconclusive: its note must say what would decide it")
        assert entry["verdict"] in VERDICTS
        if note:
            entry["note"] = str(note).strip()
        record = ClaimRecord(entry)
        self.claims.append(record)
        return record

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
        from lipnb.tables import findings_table

        try:
            from IPython.display import Markdown, display
        except ImportError:  # plain Python: print the markdown
            print(findings_table(self.claims))
        else:
            display(Markdown(findings_table(self.claims)))
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
    missing = list(dict.fromkeys(p for p in ("profile", "seed") + tuple(parameters) if p not in namespace))
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
