"""Benchmarks of the foundation: notebook wall times, the no-op reproduce, power iteration.

Writes benchmarks/results/foundation.json and .md and refreshes the README block between
``<!-- bench:foundation -->`` markers. Timings are medians of repeated runs, measured
side by side in this one process; quote ratios, not bare numbers, across machines.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, median_time, write_results  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
import reproduce  # noqa: E402

import lipnb  # noqa: E402


def bench_notebooks(repeats):
    rows = {}
    sha = reproduce.package_hash()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for source in reproduce.notebook_sources():
            outputs = (tmp / f"{source.stem}.ipynb", tmp / f"{source.stem}.json")
            med, times, _ = median_time(
                lambda: reproduce.execute(source, sha, "quick", tmp / "work", outputs=outputs), repeats)
            rows[source.stem] = {"median_s": med, "runs_s": times}
            print(f"{source.stem}: {med:.1f} s", flush=True)
    return rows


def notebooks_from_reproduce():
    """The wall time each notebook took in the last ``make reproduce`` (one run each)."""
    recorded, rows = reproduce.recorded_seconds("quick"), {}
    for source in reproduce.notebook_sources():
        if source.stem not in recorded:
            raise SystemExit(f"no recorded wall time for {source.stem}: run make reproduce first")
        rows[source.stem] = {"median_s": recorded[source.stem], "runs_s": [recorded[source.stem]]}
    return rows


def bench_noop_reproduce(repeats):
    def once():
        subprocess.run(["make", "-s", "reproduce"], cwd=ROOT, check=True, capture_output=True)
    med, times, _ = median_time(once, repeats)
    return {"median_s": med, "runs_s": times}


def bench_power_vs_svd(repeats):
    rng = np.random.default_rng(0)
    rows = []
    for shape in ((1024, 1024), (4096, 1024)):
        gaussian = rng.standard_normal(shape).astype(np.float32)
        # A "trained-like" kernel: a few strong directions over Gaussian noise.
        low_rank = (rng.standard_normal((shape[0], 8)) @ np.diag(np.geomspace(40, 10, 8))
                    @ rng.standard_normal((8, shape[1])) / np.sqrt(shape[0] * shape[1] / 64)).astype(np.float32)
        for label, w in (("gaussian", gaussian), ("low-rank + noise", low_rank + 0.1 * gaussian)):
            exact = float(np.linalg.svd(w.astype(np.float64), compute_uv=False)[0])
            t_svd, _, _ = median_time(lambda: lipnb.spectral_norm(w, method="svd"), repeats)
            entry = {"shape": list(shape), "matrix": label, "svd_s": t_svd}
            for name, fn in (
                ("power_1_iteration", lambda: lipnb.power_iteration(w, iterations=1).sigma),
                ("power_20_iterations", lambda: lipnb.power_iteration(w, iterations=20).sigma),
                ("power_to_tol_1e-6", lambda: lipnb.spectral_norm(w, method="power", tol=1e-6)),
            ):
                t, _, _ = median_time(fn, repeats)
                entry[name] = {"median_s": t, "svd_over_power": t_svd / t,
                               "relative_error": abs(fn() - exact) / exact}
            rows.append(entry)
            print(f"{shape} {label}: svd {t_svd * 1e3:.0f} ms", flush=True)
    return rows


GOALS = {"01-04": ("01", "02", "03", "04"), "06-08": ("06", "07", "08")}
GOAL_SECONDS = {"01-04": 300, "06-08": 900}


def _ratio(x: float) -> str:
    """``259x``; below 10, two significant digits (``0.42x``: power iteration was slower)."""
    return f"{x:.0f}x" if x >= 10 else f"{x:.2g}x"


def markdown(res):
    nb = res["notebooks"]
    total = sum(r["median_s"] for r in nb.values())
    lines = [
        f"Measured {res['date']} on {res['machine']} (median of {res['repeats_notebooks']} run(s) per "
        f"notebook, {res['repeats']} for the rest"
        + ("; notebook times from the `make reproduce` run that rendered the committed notebooks"
           if res.get("notebooks_source") == "make reproduce" else "") + ").",
        "",
        "| notebook (quick profile) | wall time, s |", "|---|---|",
    ]
    lines += [f"| {k} | {v['median_s']:.1f} |" for k, v in nb.items()]
    for group, prefixes in GOALS.items():
        part = sum(v["median_s"] for k, v in nb.items() if k[:2] in prefixes)
        if any(k[:2] in prefixes for k in nb):
            lines.append(f"| notebooks {group} | {part:.1f} ({part / GOAL_SECONDS[group]:.2f} of the "
                         f"{GOAL_SECONDS[group] // 60}-minute goal) |")
    lines += [f"| **all notebooks** | **{total:.1f}** |", "",
              f"No-op `make reproduce` on an up-to-date tree: {res['noop']['median_s']:.2f} s "
              f"({res['noop']['median_s'] / 10:.2f} of the 10 s goal).", "",
              "| matrix (float32) | SVD, ms | 1 iteration: SVD/power, rel. error | 20 iterations: SVD/power, "
              "rel. error | to tol 1e-6: SVD/power, rel. error |", "|---|---|---|---|---|"]
    for r in res["power_vs_svd"]:
        cells = [f"{_ratio(r[k]['svd_over_power'])}, {r[k]['relative_error']:.1e}"
                 for k in ("power_1_iteration", "power_20_iterations", "power_to_tol_1e-6")]
        lines.append(f"| {r['shape'][0]}x{r['shape'][1]} {r['matrix']} | {r['svd_s'] * 1e3:.0f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--repeats-notebooks", type=int, default=1)
    parser.add_argument("--notebooks-from-reproduce", action="store_true",
                        help="take the notebook wall times from the last make reproduce instead of running them")
    args = parser.parse_args()
    res = {"date": time.strftime("%Y-%m-%d"), "machine": machine(),
           "repeats": args.repeats, "repeats_notebooks": 1 if args.notebooks_from_reproduce else args.repeats_notebooks,
           "notebooks_source": "make reproduce" if args.notebooks_from_reproduce else "this benchmark"}
    res["power_vs_svd"] = bench_power_vs_svd(args.repeats)
    res["noop"] = bench_noop_reproduce(args.repeats)
    res["notebooks"] = notebooks_from_reproduce() if args.notebooks_from_reproduce else bench_notebooks(
        args.repeats_notebooks)
    write_results("foundation", res, markdown(res))


if __name__ == "__main__":
    main()
