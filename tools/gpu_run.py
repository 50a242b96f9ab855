"""Run every notebook on another backend (a GPU machine), and compare with the CPU run.

Two steps, because the GPU machine has no TensorFlow and the committed CPU results are
here:

``python3 tools/gpu_run.py run --profile quick --jobs 3 --out DIR``
    On the GPU machine: executes each notebook with ``tools/reproduce.py --backend jax
    --kernel python3`` (``--jobs`` notebooks at a time; one GPU is shared, so JAX is told
    not to preallocate its memory), and writes ``DIR/gpu.json``: the device line, each
    notebook's wall time and exit status, and every verdict. Outputs (rendered notebooks,
    results) go to ``build/jax/<profile>/``, never over the committed CPU renders.

``python tools/gpu_run.py report --run RUN1.json [RUN2.json ...] [--notes NOTES.md]``
    Here: writes ``benchmarks/results/gpu.md``: the device, each run's per-notebook GPU
    wall time beside the CPU quick profile's (``build/tmp/quick/*.seconds`` of the last
    local ``make reproduce``), and every verdict of the latest finished run of each
    notebook beside the committed CPU verdict; the notes explain the differences.

Neither step imports TensorFlow or lipnb.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import reproduce  # noqa: E402  (tools/ is not a package)


def device_line() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        gpu = out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "no NVIDIA GPU"
    except (OSError, subprocess.TimeoutExpired):
        gpu = "no NVIDIA GPU"
    return f"{gpu}; {os.cpu_count()} CPU cores; Python {platform.python_version()}"


def versions(backend: str) -> str:
    code = (f"import importlib, keras; m = importlib.import_module({backend!r}); "
            "import jax; print(f'keras {keras.__version__}, {m.__name__} {m.__version__}, devices {jax.devices()}')"
            if backend == "jax" else
            f"import importlib, keras; m = importlib.import_module({backend!r}); "
            "print(f'keras {keras.__version__}, {m.__name__} {m.__version__}')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": backend})
    return out.stdout.strip() or out.stderr.strip().splitlines()[-1]


def run(args) -> int:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = reproduce.notebook_sources(args.only)
    env = {**os.environ, "KERAS_BACKEND": args.backend, "PYTHONUNBUFFERED": "1",
           # several kernels share one GPU: allocate as needed instead of 75% each
           "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "PYTHONPATH": os.pathsep.join(
               p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    # Each kernel's BLAS would start a thread per core: with several kernels at once they
    # oversubscribe the cores and the numpy parts (SVDs, norms) slow down many times over.
    threads = str(max(1, (os.cpu_count() or 1) // args.jobs))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    record = {"device": device_line(), "versions": versions(args.backend), "backend": args.backend,
              "profile": args.profile, "jobs": args.jobs,
              # which code ran: a GPU node's copy of the tree may have no git history
              "lipnb_sha256": reproduce.package_hash(), "blas_threads": env["OMP_NUM_THREADS"], "notebooks": {}}
    print(record["device"], "|", record["versions"], flush=True)

    t_all = time.perf_counter()
    deadline = t_all + args.budget

    def one(source: Path):
        t0 = time.perf_counter()
        log = out_dir / f"{source.stem}.log"
        if deadline - t0 < 5:
            return source.stem, 0.0, "not started (time budget spent)"
        with open(log, "w") as fh:
            # A session of its own, so that a timeout stops the notebook's kernel too.
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "tools" / "reproduce.py"), "--profile", args.profile,
                 "--backend", args.backend, "--kernel", args.kernel, "--only", source.stem[:2], "--force"],
                stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                code = proc.wait(timeout=deadline - t0)
                status = "ok" if code == 0 else f"failed (exit {code})"
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                status = "stopped at the time budget"
        seconds = time.perf_counter() - t0
        print(f"{source.stem}: {status} in {seconds:.1f} s", flush=True)
        return source.stem, seconds, status

    def save():
        record["total_seconds"] = round(time.perf_counter() - t_all, 1)
        (out_dir / "gpu.json").write_text(json.dumps(record, indent=2) + "\n")

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        # The longest notebooks first, so the pool finishes together.
        order = sorted(sources, key=lambda s: -LONGEST_FIRST.get(s.stem[:2], 0))
        for future in as_completed([pool.submit(one, source) for source in order]):
            stem, seconds, status = future.result()
            _, results = reproduce.output_paths(reproduce.NOTEBOOKS / f"{stem}.py", args.profile,
                                                backend=args.backend)
            claims = json.loads(results.read_text())["claims"] if status == "ok" and results.exists() else []
            record["notebooks"][stem] = {"seconds": round(seconds, 1), "status": status,
                                         "verdicts": {c["id"]: c["verdict"] for c in claims}}
            save()  # after every notebook: a run cut short still reports what finished
    save()
    print(f"all notebooks in {record['total_seconds']} s; wrote {out_dir / 'gpu.json'}")
    return 0 if all(n["status"] == "ok" for n in record["notebooks"].values()) else 1


# Rough CPU quick-profile order of the notebooks' cost (largest first), for scheduling.
LONGEST_FIRST = {"06": 10, "05": 9, "10": 8, "07": 7, "08": 6, "03": 5, "09": 4, "04": 3, "01": 2, "02": 1}


def report(args) -> int:
    """benchmarks/results/gpu.md from one or more runs (later runs after fixes), plus notes."""
    runs = [json.loads(Path(p).read_text()) for p in args.run]
    cpu_times = reproduce.recorded_seconds("quick")
    first = runs[0]
    lines = ["# The notebooks on a GPU", "",
             f"Written by `tools/gpu_run.py report` from {len(runs)} run(s) on the GPU machine, "
             f"**{first['backend']}** backend, **{first['profile']}** profile.", "",
             f"- GPU machine: {first['device']}",
             f"- Software there: {first['versions']}",
             "- CPU: the committed renders (TensorFlow, 2 CPU cores, quick profile); CPU wall times "
             "are those of the last local `make reproduce`, one notebook at a time.", ""]
    for k, run in enumerate(runs, 1):
        lines += [f"## Run {k}: {len(run['notebooks'])} notebook(s), {run['jobs']} at a time, "
                  f"{run['total_seconds']:.0f} s in all (lipnb {run['lipnb_sha256'][:8]})", "",
                  "| notebook | GPU wall time, s | CPU wall time, s | status on the GPU |", "|---|---|---|---|"]
        for stem, info in sorted(run["notebooks"].items()):
            cpu = f"{cpu_times[stem]:.1f}" if stem in cpu_times else "not measured"
            lines.append(f"| {stem} | {info['seconds']:.1f} | {cpu} | {info['status']} |")
        lines.append("")
    # Each notebook's verdicts from the latest run in which it finished.
    latest = {}
    for k, run in enumerate(runs, 1):
        for stem, info in run["notebooks"].items():
            if info["status"] == "ok":
                latest[stem] = (k, info["verdicts"])
    backend = first["backend"]
    same_backend_dir = Path(args.same_backend_cpu) if args.same_backend_cpu else None

    def verdicts_in(path):
        return {c["id"]: c["verdict"] for c in json.loads(path.read_text())["claims"]} if path.exists() else {}

    lines += ["## Verdicts", "",
              "Each notebook's verdicts from the latest run in which it finished, beside the committed "
              f"CPU verdicts (TensorFlow) and, where recorded, those of the same backend ({backend}) on "
              "this project's CPU: a verdict that differs there too comes from the backend's arithmetic "
              "and random streams, not from the GPU.", "",
              f"| notebook | run | claim | GPU verdict | CPU verdict | {backend} on CPU |", "|---|---|---|---|---|---|"]
    differ = compared = 0
    for stem, (k, verdicts) in sorted(latest.items()):
        cpu = verdicts_in(ROOT / "results" / f"{stem}.json")
        same = verdicts_in(same_backend_dir / f"{stem}.json") if same_backend_dir else {}
        for claim in sorted(set(cpu) | set(verdicts)):
            gpu_v, cpu_v = verdicts.get(claim, "not run"), cpu.get(claim, "not run")
            compared += 1
            differ += gpu_v != cpu_v
            mark = "" if gpu_v == cpu_v else " **(differs)**"
            lines.append(f"| {stem} | {k} | `{claim}` | {gpu_v}{mark} | {cpu_v} | {same.get(claim, 'not run')} |")
    unfinished = sorted({stem for run in runs for stem in run["notebooks"]} - set(latest))
    lines += ["", f"{compared} verdicts compared, {differ} differ. Notebooks that never finished on the "
              f"GPU: {', '.join(unfinished) if unfinished else 'none'}.", ""]
    for path in args.notes or []:
        lines += [Path(path).read_text().rstrip(), ""]
    out = Path(args.md)
    out.write_text("\n".join(lines))
    if not args.readme:
        print(f"wrote {out}; {differ} of {compared} verdicts differ")
        return 0
    # The README quotes the latest state of each notebook and the step benchmark.
    block = [f"From `benchmarks/results/gpu.md` ({first['device'].split(';')[0]}, {first['backend']}, "
             f"{first['profile']} profile; {len(runs)} run(s)): {compared} verdicts compared with the "
             f"CPU run, {differ} of them different; never finished on the GPU: "
             f"{', '.join(unfinished) if unfinished else 'none'}.", "",
             "| notebook | GPU wall time, s (run, status, notebooks at a time) | CPU wall time, s |", "|---|---|---|"]
    for stem in sorted({stem for run in runs for stem in run["notebooks"]}):
        k, run = max((k, run) for k, run in enumerate(runs, 1) if stem in run["notebooks"])
        info = run["notebooks"][stem]
        cpu = f"{cpu_times[stem]:.1f}" if stem in cpu_times else "not measured"
        block.append(f"| {stem} | {info['seconds']:.1f} (run {k}, {info['status']}, {run['jobs']}) | {cpu} |")
    summary = "\n".join(block) + "\n"
    (out.parent / "gpu_summary.md").write_text(summary)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import update_readme_block

    update_readme_block("gpu_summary", summary)
    print(f"wrote {out}; {differ} of {compared} verdicts differ; refreshed README.md")
    return 0


def cell_seconds(notebook: Path) -> list[tuple[float, int, str]]:
    """``(seconds, cell index, first source line)`` of each executed code cell, longest first.

    Papermill records each cell's duration in the notebook it writes, and saves it after
    every cell: a notebook stopped at the time budget still has its finished cells' times
    (the runner's work folder keeps these notebooks; the committed renders drop them).
    """
    nb = json.loads(notebook.read_text())
    rows = []
    for i, cell in enumerate(nb.get("cells", [])):
        seconds = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if cell.get("cell_type") == "code" and seconds is not None:
            lines = "".join(cell.get("source", "")).strip().splitlines()
            rows.append((float(seconds), i, lines[0][:80] if lines else ""))
    return sorted(rows, reverse=True)


def cells(args) -> int:
    """Markdown: each notebook's slowest cells, from a folder of papermill-executed notebooks."""
    folder = Path(args.folder)
    notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.endswith(".input.ipynb"))
    if not notebooks:
        raise SystemExit(f"no executed notebooks in {folder}")
    lines = [f"Slowest cells of the notebooks in `{folder}` (papermill's durations)", ""]
    for nb in notebooks:
        rows = cell_seconds(nb)
        lines += [f"**{nb.stem}**: {sum(r[0] for r in rows):.1f} s over {len(rows)} finished cells", "",
                  "| cell | seconds | first line |", "|---|---|---|"]
        lines += [f"| {i} | {sec:.1f} | `{text}` |" for sec, i, text in rows[:args.top]] + [""]
    print("\n".join(lines))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute the notebooks on this machine's backend")
    p_run.add_argument("--profile", default="quick", choices=reproduce.PROFILES)
    p_run.add_argument("--backend", default="jax", choices=reproduce.BACKENDS)
    p_run.add_argument("--kernel", default="python3")
    p_run.add_argument("--jobs", type=int, default=3)
    p_run.add_argument("--budget", type=float, default=3000,
                       help="seconds for the whole run; notebooks still running then are stopped and reported")
    p_run.add_argument("--only", nargs="*")
    p_run.add_argument("--out", default=str(ROOT / "build" / "gpu"))
    p_rep = sub.add_parser("report", help="write benchmarks/results/gpu.md from a run")
    p_rep.add_argument("--run", required=True, nargs="+", help="gpu.json of each run, oldest first")
    p_rep.add_argument("--notes", nargs="*", help="markdown files appended (the analysis of the runs)")
    p_rep.add_argument("--same-backend-cpu", metavar="DIR",
                       help="result files of the GPU's backend run on the CPU (a column beside the verdicts)")
    p_rep.add_argument("--md", default=str(ROOT / "benchmarks" / "results" / "gpu.md"), help="where to write")
    p_rep.add_argument("--no-readme", dest="readme", action="store_false", help="leave README.md as it is")
    p_cells = sub.add_parser("cells", help="the slowest cells of executed notebooks (a run's work folder)")
    p_cells.add_argument("folder", help="e.g. build/tmp/quick-jax from a GPU session's archive")
    p_cells.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)
    if args.command == "cells":
        return cells(args)
    if args.command == "run":
        if args.jobs < 1:
            parser.error("--jobs must be >= 1")
        return run(args)
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
