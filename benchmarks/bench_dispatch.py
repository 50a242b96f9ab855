"""One dispatch per step against one per loop: what running many small steps in one
compiled call (``lipnb.backend.compile_stateful(..., scan=True)``) buys on this backend.

Two loops the notebooks run thousands of times, each timed both ways after a warm-up that
compiles every variant, in interleaved rounds; each figure is the median over rounds:

- **WGAN** (notebook 06's 8 Gaussians, 3x64 MLPs, batch 256, n_critic 5, GP and SN):
  ``--gan-steps`` generator steps through Keras's ``fit`` (one dispatch per step) against
  lipnb's scanned loop (``lipnb.gan._fit_scanned``: one call per evaluation interval,
  here ``--eval-every`` steps).
- **Classifier** (digits, a 64-128-10 MLP, Adam, batch 32): ``--epochs`` epochs with one
  compiled call per minibatch step against one call for all of them (``fit_classifier``'s
  JAX path).
- **Conv classifier** (notebook 10's: ``lipnb.conv_critic`` with 10 outputs on 8x8 digits,
  Adam, batch 64): the same two ways, the loop compiled as one ``lax.scan`` on JAX even
  where lipnb would not: XLA:CPU runs a convolution's gradients far slower inside a
  compiled loop, so on a CPU lipnb takes a call per step for such steps
  (``backend._slow_in_loops``). This row shows that choice's reason, and on a GPU whether
  the loop pays there.

On JAX a third comparison times many runs of one WGAN: ``--seeds`` seeds of notebook 06's
networks, ``--gan-steps`` steps each, trained one after another (each with the scanned
loop) against side by side in one vmapped step (``lipnb.train_wgans``). Each figure is
the training time the runs' records report, without building the networks. A fourth
does the same for 06's author GP arm, whose critic is convolutional
(``DigitWGAN.run_many``, ``--digit-seeds`` seeds of ``--digit-steps`` steps), in wall
time, building the fresh networks included.

Writes ``benchmarks/results/dispatch_<backend>_<device>.json`` (``--out`` elsewhere) and
``benchmarks/results/dispatch.md``, the table of every such file there, which the README
quotes between ``<!-- bench:dispatch -->`` markers.
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
from lipnb import backend  # noqa: E402


def sync(model) -> None:
    """Wait for the device: read one weight back (JAX dispatches asynchronously)."""
    keras.ops.convert_to_numpy(model.weights[0])


def gan_loops(regime: str, steps: int, eval_every: int):
    x, _ = lipnb.eight_gaussians(4096, np.random.default_rng(0))
    gan = lipnb.WGAN(lipnb.mlp_generator(hidden=(64,) * 3, seed=0),
                     lipnb.make_critic(regime, input_shape=(2,), hidden=(64,) * 3, seed=0), regime=regime)
    gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5))
    nothing = lambda g: {}  # noqa: E731

    def per_step():
        gan.fit(lipnb.WGAN.dataset(x, 256, 5, seed=1), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False,
                callbacks=[lipnb.gan.SampleQuality(nothing, eval_every)])
        sync(gan)

    def scanned():
        lipnb.gan._fit_scanned(gan, lipnb.WGAN.dataset(x, 256, 5, seed=1), steps,
                               lipnb.gan.SampleQuality(nothing, eval_every))
        sync(gan)

    return per_step, scanned


def compiled_loop(step, state):
    """JAX: all steps in one ``lax.scan``, whatever lipnb would choose on this device."""
    import jax

    pure = jax.jit(backend._pure_step(step, state, scan=True))

    def call(per_step, *shared):
        outs, values = pure([v.value for v in state], per_step, *shared)
        for variable, value in zip(state, values):
            variable.assign(value)
        return outs

    return call


def classifier_loops(epochs: int, conv: bool = False):
    x, y = lipnb.load_digits_split(0, flatten=not conv)[:2]
    x, y = np.asarray(x, "float32"), np.asarray(y, "int32")
    if conv:
        model, batch = lipnb.conv_critic(normalization=None, outputs=10, seed=0), 64
    else:
        model, batch = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                                         keras.layers.Dense(10)]), 32
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    steps = len(x) // batch
    step = lipnb.models.classifier_step(model, optimizer)
    state = list(model.variables) + list(optimizer.variables)
    one = backend.compile_stateful(step, state)
    loop = compiled_loop(step, state) if conv and backend.name() == "jax" else \
        backend.compile_stateful(step, state, scan=True)
    rng = np.random.default_rng(0)
    orders = np.concatenate([rng.permutation(len(x))[:steps * batch].reshape(steps, batch) for _ in range(epochs)])

    def per_step():
        for idx in orders:
            one(idx, x, y)
        sync(model)

    def scanned():
        loop((orders,), x, y)
        sync(model)

    return per_step, scanned


def seeds_loops(regime: str, seeds: int, steps: int, eval_every: int):
    """Training seconds of ``seeds`` runs one after another, and side by side."""
    x, _ = lipnb.eight_gaussians(4096, np.random.default_rng(0))
    runs = [lipnb.GANRun(x, lambda g: {}, seed=s) for s in range(seeds)]
    settings = dict(hidden=(64,) * 3, eval_every=eval_every, learning_rate=1e-3, beta_1=0.5)

    def one_by_one():
        trained = lipnb.train_wgans(runs, regime, steps, batched=False, **settings)
        return sum(records[-1]["seconds"] for _, records in trained)

    def side_by_side():
        trained = lipnb.train_wgans(runs, regime, steps, batched=True, **settings)
        return trained[0][1][-1]["seconds"]

    return one_by_one, side_by_side


def digit_seeds_loops(seeds: int, steps: int, eval_every: int):
    """Wall seconds of notebook 06's author GP arm (conv critic) for ``seeds`` seeds, one
    after another and side by side (``DigitWGAN.run_many``), fresh networks included."""
    x, _, _, _ = lipnb.load_digits_split(seed=0, flatten=False)
    arm = lipnb.DigitWGAN(batchnorm=False, spectral=False, gp_weight=10.0, learning_rate=2e-4, beta_1=0.5,
                          batch=64, n_critic=5, latent_dim=32)

    def timed(batched):
        def run():
            t = time.perf_counter()
            arm.run_many(x, seeds=range(seeds), steps=steps, eval_every=eval_every, evaluate=lambda g: {},
                         batched=batched)
            return time.perf_counter() - t
        return run

    return timed(False), timed(True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan-steps", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=10, help="runs side by side (JAX only)")
    parser.add_argument("--digit-seeds", type=int, default=5, help="author-arm runs side by side (JAX only)")
    parser.add_argument("--digit-steps", type=int, default=20)
    parser.add_argument("--out", default=None, help="folder for the JSON (default: benchmarks/results)")
    args = parser.parse_args(argv)
    lipnb.seed_everything(0)
    loops = {f"WGAN {r}, {args.gan_steps} steps": gan_loops(r, args.gan_steps, args.eval_every) for r in ("gp", "sn")}
    loops[f"classifier, {args.epochs} epochs"] = classifier_loops(args.epochs)
    loops[f"conv classifier, {args.epochs} epochs"] = classifier_loops(args.epochs, conv=True)
    rows = {}
    for name, (per_step, scanned) in loops.items():
        t0 = time.perf_counter()
        per_step(), scanned()  # compile both
        warm = time.perf_counter() - t0
        times = {"per_step": [], "scanned": []}
        for r in range(args.rounds):
            for label, fn in (("per_step", per_step), ("scanned", scanned))[:: 1 if r % 2 == 0 else -1]:
                t = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows[name] = {"per_step_s": med["per_step"], "scanned_s": med["scanned"],
                      "ratio_scanned_over_per_step": med["scanned"] / med["per_step"], "warm_up_s": warm,
                      "rounds": times}
        print(f"{name}: per step {med['per_step']:.3f} s, scanned {med['scanned']:.3f} s, "
              f"ratio {med['scanned'] / med['per_step']:.2f} (warm-up with compiles {warm:.1f} s)", flush=True)
    kind = device_kind()
    res = {"backend": keras.backend.backend(), "device": kind, "machine": machine(), "args": vars(args),
           "rows": rows, "seed_rows": {}}
    out = Path(args.out) if args.out else OUT
    save(res, out)  # now, in case a time limit stops the comparison below
    seed_rows = res["seed_rows"]
    if keras.backend.backend() == "jax":
        comparisons = {f"WGAN {regime}, {args.seeds} seeds x {args.gan_steps} steps":
                       (lambda regime=regime: seeds_loops(regime, args.seeds, args.gan_steps, args.eval_every))
                       for regime in ("gp", "sn")}
        comparisons[f"06's author GP arm (conv critic), {args.digit_seeds} seeds x {args.digit_steps} steps, "
                    "wall time with fresh networks"] = lambda: digit_seeds_loops(args.digit_seeds, args.digit_steps,
                                                                                 args.digit_steps)
        for name, make in comparisons.items():
            one_by_one, side_by_side = make()
            one_by_one(), side_by_side()  # compile both
            times = {"one_by_one": [], "side_by_side": []}
            for r in range(args.rounds):
                for label, fn in (("one_by_one", one_by_one), ("side_by_side", side_by_side))[:: 1 if r % 2 == 0
                                                                                                 else -1]:
                    times[label].append(fn())
            med = {k: statistics.median(v) for k, v in times.items()}
            seed_rows[name] = {"one_by_one_s": med["one_by_one"], "side_by_side_s": med["side_by_side"],
                               "ratio_side_by_side_over_one_by_one": med["side_by_side"] / med["one_by_one"],
                               "rounds": times}
            print(f"{name}: one by one {med['one_by_one']:.3f} s, side by side {med['side_by_side']:.3f} s",
                  flush=True)
            save(res, out)
    return 0


def save(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"dispatch_{res['backend']}_{res['device']}.json"
    path.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {path}", flush=True)
    write_table(out)


def write_table(folder: Path) -> None:
    """``dispatch.md``: every ``dispatch_*.json`` in ``folder``, side by side."""
    lines = ["One dispatch per step against one compiled call per loop (`benchmarks/bench_dispatch.py`): "
             "median seconds per loop over interleaved rounds, after a warm-up that compiles both.", "",
             "| backend | device | machine | loop | one call per step, s | one call per loop, s | ratio |",
             "|---|---|---|---|---|---|---|"]
    for path in sorted(folder.glob("dispatch_*.json")):
        res = json.loads(path.read_text())
        for name, row in res["rows"].items():
            ratio = row["ratio_scanned_over_per_step"]
            lines.append(f"| {res['backend']} | {res['device']} | {res['machine']} | {name} | "
                         f"{row['per_step_s']:.3f} | {row['scanned_s']:.3f} | {ratio:.2f} |")
    seeds = ["", "Many runs of one WGAN on JAX (`lipnb.train_wgans`, `DigitWGAN.run_many`): median seconds over "
             "rounds, the runs one after another (each a compiled loop) against side by side in one vmapped step.",
             "",
             "| backend | device | machine | runs | one after another, s | side by side, s | ratio |",
             "|---|---|---|---|---|---|---|"]
    for path in sorted(folder.glob("dispatch_*.json")):
        res = json.loads(path.read_text())
        for name, row in res.get("seed_rows", {}).items():
            seeds.append(f"| {res['backend']} | {res['device']} | {res['machine']} | {name} | "
                         f"{row['one_by_one_s']:.3f} | {row['side_by_side_s']:.3f} | "
                         f"{row['ratio_side_by_side_over_one_by_one']:.2f} |")
    if len(seeds) > 5:  # timed somewhere
        lines += seeds
    text = "\n".join(lines) + "\n"
    (folder / "dispatch.md").write_text(text)
    if folder.resolve() == OUT.resolve():
        update_readme_block("dispatch", text)


if __name__ == "__main__":
    sys.exit(main())
