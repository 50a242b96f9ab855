"""Compare the verdicts and measured values of two sets of results, timings excluded.

Re-running a notebook on the same CPU must record the same numbers; only wall-clock
measurements may differ. Another CPU may differ by round-off, so numbers are compared
within a relative tolerance (``--rtol``, default 1e-6). After ``make reproduce`` (or any
re-run),

    python tools/compare_results.py --against HEAD

compares the working tree's ``results/*.json`` with the committed ones, and

    python tools/compare_results.py DIR_A DIR_B

compares two results folders, for example ``results`` and ``build/seed-1/results`` after
``make reproduce SEED=1``. With ``--verdicts-only`` (the check for another seed, whose
numbers are expected to differ) only verdicts that differ fail.
Exit status 1 when a verdict differs, or, without ``--verdicts-only``, a measured value.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Measured keys that hold wall-clock times or ratios of them.
TIMING_KEY = re.compile(r"second|time")


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not TIMING_KEY.search(str(k))}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def verdict_of(claim: dict) -> str:
    """A claim's verdict; results written before the three-verdict schema carry a boolean."""
    if "verdict" in claim:
        return claim["verdict"]
    return "holds" if claim["holds"] else "does not hold"


def comparable(results: dict) -> dict:
    """claim id -> (measured values without timings, verdict)."""
    return {c["id"]: (without_timings(c["measured"]), verdict_of(c)) for c in results["claims"]}


def largest_relative_difference(a, b, atol: float = 1e-12) -> float:
    """The largest |a - b| / max(|a|, |b|) over matching numbers; inf when the structures differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return math.inf
        return max((largest_relative_difference(a[k], b[k], atol) for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return math.inf
        return max((largest_relative_difference(x, y, atol) for x, y in zip(a, b)), default=0.0)
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        gap = abs(a - b)
        return 0.0 if gap <= atol else gap / max(abs(a), abs(b))
    return 0.0 if a == b else math.inf


def differences(a: dict, b: dict, rtol: float = 1e-6, verdicts_only: bool = False) -> list[str]:
    ca, cb = comparable(a), comparable(b)
    out = [f"claim {k!r} only in one of the two" for k in sorted(set(ca) ^ set(cb))]
    for k in sorted(set(ca) & set(cb)):
        # A verdict computed from timings alone (nothing left once they are excluded) is a
        # timing itself, and may differ between runs.
        timing_verdict = not ca[k][0] and not cb[k][0]
        if ca[k][1] != cb[k][1] and not timing_verdict:
            out.append(f"claim {k!r}: verdict {ca[k][1]!r} vs {cb[k][1]!r}")
        if verdicts_only:
            continue
        gap = largest_relative_difference(ca[k][0], cb[k][0])
        if gap > rtol:
            out.append(f"claim {k!r}: measured values differ (largest relative difference {gap:.1e})")
    return out


def _committed(path: Path, rev: str) -> dict | None:
    rel = path.resolve().relative_to(ROOT)
    shown = subprocess.run(["git", "show", f"{rev}:{rel.as_posix()}"], cwd=ROOT, capture_output=True, text=True)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, help="two results folders")
    parser.add_argument("--against", metavar="REV", help="compare results/ with its version at a git revision")
    parser.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance for measured numbers")
    parser.add_argument("--verdicts-only", action="store_true", help="fail only on verdicts that differ")
    args = parser.parse_args(argv)
    if not args.rtol >= 0:
        parser.error(f"--rtol must be >= 0, got {args.rtol}")
    if bool(args.against) == (len(args.dirs) == 2) or (args.dirs and len(args.dirs) != 2):
        parser.error("give either two results folders or --against REV")
    pairs = []
    if args.against:
        known = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{args.against}^{{commit}}"], cwd=ROOT,
                               capture_output=True, text=True)
        if known.returncode != 0:
            parser.error(f"--against: unknown git revision {args.against!r}")
        for path in sorted((ROOT / "results").glob("[0-9][0-9]_*.json")):
            pairs.append((path.name, _committed(path, args.against), json.loads(path.read_text())))
    else:
        a_dir, b_dir = args.dirs
        for folder in (a_dir, b_dir):
            if not folder.is_dir():
                parser.error(f"{folder} is not a folder")
        # Every result file on either side: one present on one side only is a difference.
        names = sorted({p.name for d in (a_dir, b_dir) for p in d.glob("[0-9][0-9]_*.json")})
        for name in names:
            a, b = a_dir / name, b_dir / name
            pairs.append((name, json.loads(a.read_text()) if a.exists() else None,
                          json.loads(b.read_text()) if b.exists() else None))
    if not pairs:
        parser.error("no result files (NN_*.json) to compare")
    failed = False
    for name, a, b in pairs:
        if a is None or b is None:
            print(f"{name}: missing on one side")
            failed = True
            continue
        diffs = differences(a, b, args.rtol, args.verdicts_only)
        failed |= bool(diffs)
        same = "same verdicts" if args.verdicts_only else f"same verdicts and measured values (rtol {args.rtol:g})"
        print(f"{name}: " + (same if not diffs else "; ".join(diffs)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
