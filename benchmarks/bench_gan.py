"""Benchmark of WGAN steps: critic and generator step time for each critic regime.

8 Gaussians, the 3x128 MLP critic and generator of notebook 06, batch 256, CPU. All
regimes run round-robin in one process, so machine noise hits them alike; each figure is
a median over rounds. Writes benchmarks/results/gan.{json,md} and refreshes the README
block between ``<!-- bench:gan -->`` markers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import lipnb  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    lipnb.seed_everything(0)
    x, _ = lipnb.eight_gaussians(args.batch, np.random.default_rng(0))
    real = tf.constant(x)
    fns = {}
    for regime in lipnb.REGIMES:
        gan = lipnb.WGAN(lipnb.mlp_generator(seed=0), lipnb.make_critic(regime, seed=0), regime=regime)
        gan.compile()
        fns[regime] = (tf.function(lambda r, gan=gan: gan.critic_step(r, None)),
                       tf.function(lambda gan=gan: gan.generator_step(args.batch)))
        fns[regime][0](real)
        fns[regime][1]()
    times = {r: {"critic": [], "generator": []} for r in fns}
    for _ in range(args.rounds):
        for regime, (critic, generator) in fns.items():
            for kind, call in (("critic", lambda: critic(real)), ("generator", generator)):
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    out = call()
                keras.ops.convert_to_numpy(out if not isinstance(out, tuple) else out[0])
                times[regime][kind].append((time.perf_counter() - t0) / args.steps)
    res = {"date": time.strftime("%Y-%m-%d"), "rounds": args.rounds, "batch": args.batch,
           "machine": machine(f"TensorFlow {tf.__version__}"),
           "median_ms": {r: {k: statistics.median(v) * 1e3 for k, v in t.items()} for r, t in times.items()}}
    sn = res["median_ms"]["sn"]["critic"]
    res["gp_over_sn_critic"] = res["median_ms"]["gp"]["critic"] / sn
    lines = [f"Measured {res['date']} on {res['machine']}; 8 Gaussians, 3x128 MLPs, batch {args.batch}, "
             f"medians over {args.rounds} interleaved rounds.", "",
             "| regime | critic step, ms | ratio to sn | generator step, ms |", "|---|---|---|---|"]
    for regime, t in res["median_ms"].items():
        lines.append(f"| {regime} | {t['critic']:.2f} | {t['critic'] / sn:.2f} | {t['generator']:.2f} |")
    lines += ["", f"GP / SN critic step time: {res['gp_over_sn_critic']:.2f}."]
    write_results("gan", res, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
