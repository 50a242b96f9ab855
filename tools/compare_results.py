"""Compare the measured values of two sets of results, timings excluded.

Re-running a notebook on the same CPU must record the same numbers; only wall-clock
measurements may differ. After ``python tools/reproduce.py --force`` (or any re-run),

    python tools/compare_results.py --against HEAD

compares the working tree's ``results/*.json`` with the committed ones, and

    python tools/compare_results.py DIR_A DIR_B

compares two results folders (for example ``build/smoke/results`` from two machines).
Exit status 1 when a measured value or a verdict differs.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Measured keys that hold wall-clock times or ratios of them.
TIMING_KEY = re.compile(r"second|time|^gp_over_sn$")


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not TIMING_KEY.search(str(k))}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def comparable(results: dict) -> dict:
    """claim id -> (measured values without timings, verdict)."""
    return {c["id"]: (without_timings(c["measured"]), bool(c["holds"])) for c in results["claims"]}


def differences(a: dict, b: dict) -> list[str]:
    ca, cb = comparable(a), comparable(b)
    out = [f"claim {k!r} only in one of the two" for k in sorted(set(ca) ^ set(cb))]
    for k in sorted(set(ca) & set(cb)):
        # A verdict computed from timings alone (nothing left once they are excluded) is a
        # timing itself, and may differ between runs.
        timing_verdict = not ca[k][0] and not cb[k][0]
        if ca[k][1] != cb[k][1] and not timing_verdict:
            out.append(f"claim {k!r}: verdict {ca[k][1]} vs {cb[k][1]}")
        if json.dumps(ca[k][0], sort_keys=True) != json.dumps(cb[k][0], sort_keys=True):
            out.append(f"claim {k!r}: measured values differ")
    return out


def _committed(path: Path, rev: str) -> dict | None:
    rel = path.resolve().relative_to(ROOT)
    shown = subprocess.run(["git", "show", f"{rev}:{rel.as_posix()}"], cwd=ROOT, capture_output=True, text=True)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, help="two results folders")
    parser.add_argument("--against", metavar="REV", help="compare results/ with its version at a git revision")
    args = parser.parse_args(argv)
    if bool(args.against) == (len(args.dirs) == 2) or (args.dirs and len(args.dirs) != 2):
        parser.error("give either two results folders or --against REV")
    pairs = []
    if args.against:
        for path in sorted((ROOT / "results").glob("[0-9][0-9]_*.json")):
            pairs.append((path.name, _committed(path, args.against), json.loads(path.read_text())))
    else:
        a_dir, b_dir = args.dirs
        for path in sorted(a_dir.glob("[0-9][0-9]_*.json")):
            other = b_dir / path.name
            pairs.append((path.name, json.loads(path.read_text()),
                          json.loads(other.read_text()) if other.exists() else None))
    failed = False
    for name, a, b in pairs:
        if a is None or b is None:
            print(f"{name}: missing on one side")
            failed = True
            continue
        diffs = differences(a, b)
        failed |= bool(diffs)
        print(f"{name}: " + ("identical measured values" if not diffs else "; ".join(diffs)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
