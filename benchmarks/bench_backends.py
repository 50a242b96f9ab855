"""lipnb's WGAN training step on the current Keras backend: compile time and step time.

The notebooks build a fresh GAN per seed and setting, and every fresh GAN compiles its
own step (``tf.function`` trace, or ``jax.jit``), so both numbers matter: the first
step (trace and compile) and the median step after it. Regimes ``gp`` and ``sn`` on 8
Gaussians with notebook 06's MLPs (width 64 and lipnb's default 128), batch 256,
n_critic 5. Steps run in interleaved rounds of ``--steps`` steps; each figure is the
median over rounds.

Run it once per backend (``KERAS_BACKEND=jax python benchmarks/bench_backends.py``); each
run writes ``benchmarks/results/backend_<backend>_<device>.json`` and, where all of them
are present, ``benchmarks/results/backends.md`` puts them side by side, with the GP/SN
ratio of each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import keras  # noqa: E402
from _common import OUT, device_kind, machine, update_readme_block  # noqa: E402

import lipnb  # noqa: E402


def build(regime: str, width: int, seed: int = 0):
    generator = lipnb.mlp_generator(latent_dim=2, output_dim=2, hidden=(width,) * 3, seed=seed)
    critic = lipnb.mlp_critic(regime, hidden=(width,) * 3, seed=seed)
    gan = lipnb.WGAN(generator, critic, regime=regime, n_critic=5, gp_weight=1.0, seed=seed)
    gan.compile(*(keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9) for _ in range(2)))
    return gan


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args(argv)
    lipnb.seed_everything(0)
    x = lipnb.eight_gaussians(4096, np.random.default_rng(0))[0]
    rows = []
    for width in (64, 128):
        gans = {}
        compile_seconds = {}
        for regime in ("gp", "sn"):
            t0 = time.perf_counter()
            gans[regime] = build(regime, width)
            # First (compiling) step: time_train_steps' warm-up is exactly one step here.
            lipnb.gan.time_train_steps({regime: gans[regime]}, x, steps=1, rounds=1, batch_size=args.batch,
                                       warmup_steps=1)
            compile_seconds[regime] = time.perf_counter() - t0
        per_round = lipnb.gan.time_train_steps(gans, x, steps=args.steps, rounds=args.rounds,
                                               batch_size=args.batch, warmup_steps=1, per_round=True)
        for regime in ("gp", "sn"):
            rows.append({"width": width, "regime": regime, "first_step_seconds": round(compile_seconds[regime], 3),
                         "step_ms": round(1e3 * statistics.median(per_round[regime]), 3)})
        ratio = statistics.median(per_round["gp"] / per_round["sn"])
        rows.append({"width": width, "regime": "gp/sn", "step_ratio": round(float(ratio), 3)})
        print(rows[-3:], flush=True)
    record = {"backend": keras.backend.backend(), "device": device_kind(), "machine": machine(),
              "keras": keras.__version__, "batch": args.batch, "steps_per_round": args.steps,
              "rounds": args.rounds, "rows": rows}
    path = OUT / f"backend_{record['backend']}_{record['device']}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    write_table()
    return 0


def write_table() -> None:
    """benchmarks/results/backends.md from every backend_*.json present."""
    records = [json.loads(p.read_text()) for p in sorted(OUT.glob("backend_*.json"))]
    lines = ["lipnb's WGAN training step per Keras backend (`benchmarks/bench_backends.py`). First step = "
             "build + trace/compile + one step; step = median over interleaved rounds after it (8 Gaussians, "
             "batch 256, n_critic 5).", "",
             "| backend | device | machine | width | GP first step, s | SN first step, s | GP step, ms | "
             "SN step, ms | GP/SN |", "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        for width in (64, 128):
            by = {row["regime"]: row for row in r["rows"] if row["width"] == width}
            lines.append(f"| {r['backend']} | {r['device']} | {r['machine']} | {width} | "
                         f"{by['gp']['first_step_seconds']:.2f} | {by['sn']['first_step_seconds']:.2f} | "
                         f"{by['gp']['step_ms']:.2f} | {by['sn']['step_ms']:.2f} | {by['gp/sn']['step_ratio']:.2f} |")
    text = "\n".join(lines) + "\n"
    (OUT / "backends.md").write_text(text)
    update_readme_block("backends", text)


if __name__ == "__main__":
    sys.exit(main())
