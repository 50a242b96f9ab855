"""Execute the notebooks whose inputs changed, and record their results.

A notebook ``notebooks/NN_name.py`` (jupytext percent format) is up to date when its
rendered ``.ipynb`` and its ``results/NN_name.json`` both carry the sha256 of the
current source and of the current ``lipnb`` package. Only stale notebooks execute, so
on an up-to-date clone this changes no file and returns in seconds.

Outputs of the default profile (``quick``) with the default seed (0) replace the
committed pair; other profiles write to ``build/<profile>/``, and another seed
(``--seed N``, ``make reproduce SEED=N``) to ``build/seed-N/<profile>/``, so a check of
verdict stability never touches the committed files. Every output is written to a temporary file first and
moved into place only after the notebook succeeded, so a failure or an interrupt leaves
the previous files intact.

This module imports neither TensorFlow nor lipnb: hashing and bookkeeping stay fast.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402  (tools/ is not a package)

ROOT = Path(__file__).resolve().parent.parent
# The folder that holds this checkout's lipnb: the kernel imports it from here, so a
# Python that has the dependencies but not lipnb installed (an offline GPU node) works.
SOURCE_ROOT = ROOT
NOTEBOOKS = ROOT / "notebooks"
PACKAGE = ROOT / "lipnb"
DEFAULT_PROFILE = "quick"
PROFILES = ("smoke", "quick", "full")
BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"  # the committed renders' stack
KERNEL = "lipnb"
KERNELSPEC = {"name": KERNEL, "display_name": "Python (lipnb)", "language": "python"}
# Native libraries (TensorFlow's C++ logging) write to the kernel's file descriptor 2.
# Those lines are the library's diagnostics, not the notebook's output: send them to the
# kernel log, and keep Python-level stderr (warnings) in the notebook, where the tests
# look for it.
KERNEL_ARGUMENTS = ["--IPKernelApp.capture_fd_output=False"]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package_hash(package: Path = PACKAGE) -> str:
    """sha256 over every ``.py`` file of the package (relative path and content)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def notebook_sources(only: list[str] | None = None) -> list[Path]:
    sources = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    if only:
        wanted = set(only)
        sources = [p for p in sources if p.stem in wanted or p.stem[:2] in wanted]
        missing = wanted - {p.stem for p in sources} - {p.stem[:2] for p in sources}
        if missing:
            raise SystemExit(f"reproduce: no notebook named {', '.join(sorted(missing))}")
    return sources


def output_paths(source: Path, profile: str, seed: int = 0,
                 backend: str = DEFAULT_BACKEND) -> tuple[Path, Path]:
    """Where a notebook's rendered .ipynb and results .json go for a profile, seed and backend."""
    if profile == DEFAULT_PROFILE and seed == 0 and backend == DEFAULT_BACKEND:
        return source.with_suffix(".ipynb"), ROOT / "results" / f"{source.stem}.json"
    base = ROOT / "build" if backend == DEFAULT_BACKEND else ROOT / "build" / backend
    base = base / profile if seed == 0 else base / f"seed-{seed}" / profile
    return base / "notebooks" / f"{source.stem}.ipynb", base / "results" / f"{source.stem}.json"


def stamp(source: Path, lipnb_sha: str, profile: str) -> dict:
    return {"source_sha256": sha256_file(source), "lipnb_sha256": lipnb_sha, "profile": profile}


def is_up_to_date(source: Path, lipnb_sha: str, profile: str, seed: int = 0,
                  backend: str = DEFAULT_BACKEND) -> bool:
    ipynb, results = output_paths(source, profile, seed, backend)
    if not (ipynb.exists() and results.exists()):
        return False
    want = stamp(source, lipnb_sha, profile)
    try:
        meta = json.loads(ipynb.read_text())["metadata"].get("lipnb", {})
        data = json.loads(results.read_text())
    except (json.JSONDecodeError, KeyError):
        return False
    return data.get("seed") == seed and all(meta.get(k) == v and data.get(k) == v for k, v in want.items())


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _clean_for_commit(nb) -> None:
    """Drop run-specific metadata (timestamps, durations) from an executed notebook."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)


def execute(source: Path, lipnb_sha: str, profile: str, workdir: Path,
            outputs: tuple[Path, Path] | None = None, seed: int = 0,
            backend: str = DEFAULT_BACKEND, kernel: str = KERNEL) -> None:
    """Run one notebook with papermill; move its outputs into place on success.

    ``outputs`` overrides where the rendered notebook and results go (benchmarks use it).
    ``backend`` is Keras's backend in the kernel (``KERAS_BACKEND``); ``kernel`` the
    Jupyter kernel to run it in (any kernel with lipnb's dependencies).
    """
    import jupytext
    import nbformat
    import papermill

    ipynb, results = outputs or output_paths(source, profile, seed, backend)
    workdir.mkdir(parents=True, exist_ok=True)
    tmp_in = workdir / f"{source.stem}.input.ipynb"
    tmp_out = workdir / f"{source.stem}.ipynb"
    tmp_json = workdir / f"{source.stem}.json"
    for p in (tmp_out, tmp_json):
        p.unlink(missing_ok=True)

    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": f"Python ({kernel})", "language": "python"}
    nbformat.write(nb, tmp_in)
    params = {} if profile == DEFAULT_PROFILE else {"profile": profile}
    if seed != 0:
        params["seed"] = seed
    os.environ["LIPNB_RESULTS_PATH"] = str(tmp_json)
    os.environ["KERAS_BACKEND"] = backend  # the kernel inherits it
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(SOURCE_ROOT) not in paths:  # the kernel inherits it too
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(SOURCE_ROOT), *paths] if p)
    if backend == "jax":
        # The notebooks compare float64 computations in places; JAX gives float64 only
        # with x64 on (Keras's default float stays float32).
        os.environ.setdefault("JAX_ENABLE_X64", "1")
        # On NVIDIA GPUs JAX multiplies float32 matrices in TF32 (10-bit mantissa) unless
        # told otherwise; the notebooks' exact checks need float32 products.
        os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
        # JAX compiles each new model's step afresh: on a GPU that takes seconds, longer than
        # the training. Its persistent cache keys compiled code by the computation itself, so
        # every seed of a setting, and every notebook and run after the first, reuses it.
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / "build" / backend / "jax-cache"))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    # The kernel inherits our stderr; send its TensorFlow chatter to a log file instead.
    log = open(workdir / f"{source.stem}.kernel.log", "w")
    saved_stderr = os.dup(2)
    sys.stderr.flush()
    os.dup2(log.fileno(), 2)
    try:
        papermill.execute_notebook(
            str(tmp_in), str(tmp_out), parameters=params, kernel_name=kernel,
            cwd=str(NOTEBOOKS), progress_bar=False, log_output=False,
            extra_arguments=KERNEL_ARGUMENTS,
        )
    finally:
        sys.stderr.flush()
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        log.close()
        os.environ.pop("LIPNB_RESULTS_PATH", None)
    if not tmp_json.exists():
        raise RuntimeError(f"{source.name} ran but wrote no results (missing run.finish()?)")

    data = json.loads(tmp_json.read_text())
    want = stamp(source, lipnb_sha, profile)
    if data.get("profile") != profile:
        raise RuntimeError(f"{source.name} recorded profile {data.get('profile')!r}, not {profile!r}")
    if data.get("seed") != seed:
        raise RuntimeError(f"{source.name} recorded seed {data.get('seed')!r}, not {seed!r}")
    ordered = {"notebook": source.stem, "profile": profile, "seed": data["seed"],
               **({} if backend == DEFAULT_BACKEND else {"backend": backend}),
               "source_sha256": want["source_sha256"], "lipnb_sha256": lipnb_sha,
               "claims": data["claims"]}

    out = nbformat.read(tmp_out, as_version=4)
    _clean_for_commit(out)
    out.metadata["lipnb"] = want
    # Results first, notebook last: an interrupt between the two moves leaves the
    # notebook's stamp stale, so the next run executes it again.
    _atomic_write(results, json.dumps(ordered, indent=2) + "\n")
    _atomic_write(ipynb, nbformat.writes(out) + "\n")


def write_summary(profile: str, seed: int = 0, backend: str = DEFAULT_BACKEND) -> Path:
    results_dir = output_paths(NOTEBOOKS / "00_x.py", profile, seed, backend)[1].parent
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "SUMMARY.md"
    text = report.summary_markdown(results_dir, profile)
    if not path.exists() or path.read_text() != text:
        _atomic_write(path, text)
    readme = ROOT / "README.md"
    if profile == DEFAULT_PROFILE and seed == 0 and backend == DEFAULT_BACKEND and readme.exists():
        # The README's notebook and claims tables are generated from the committed results.
        text = report.readme_text(readme.read_text(), results_dir)
        if readme.read_text() != text:
            _atomic_write(readme, text)
    return path


def recorded_seconds(profile: str = "quick") -> dict:
    """Notebook stem -> wall seconds of its last TensorFlow run of ``profile`` (seed 0) here.

    The GPU report and the foundation benchmark quote these beside their own numbers.
    """
    return {path.stem: float(path.read_text()) for path in (ROOT / "build" / "tmp" / profile).glob("*.seconds")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    parser.add_argument("--only", nargs="*", help="notebook stems or NN prefixes")
    parser.add_argument("--force", action="store_true", help="execute even if up to date")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for every notebook; other than 0, outputs go to build/seed-N/")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND),
                        help=f"Keras backend: {', '.join(BACKENDS)} (default: $KERAS_BACKEND, else "
                             f"{DEFAULT_BACKEND}); other than {DEFAULT_BACKEND}, outputs go to build/BACKEND/")
    parser.add_argument("--kernel", default=KERNEL,
                        help=f"Jupyter kernel to execute in (default {KERNEL!r}, the one `make` installs; "
                             "e.g. python3 on a machine without the Makefile's environment)")
    args = parser.parse_args(argv)
    if args.backend not in BACKENDS:
        parser.error(f"unknown backend {args.backend!r}; choose one of {', '.join(BACKENDS)}")
    if args.profile not in PROFILES:
        parser.error(f"unknown profile {args.profile!r}; choose one of {', '.join(PROFILES)}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")

    if args.only is not None and not args.only:
        parser.error("--only needs at least one notebook stem or NN prefix")
    sources = notebook_sources(args.only)
    lipnb_sha = package_hash()
    workdir = ROOT / "build" / "tmp" / (args.profile if args.seed == 0 else f"{args.profile}-seed-{args.seed}")
    if args.backend != DEFAULT_BACKEND:
        workdir = workdir.with_name(f"{workdir.name}-{args.backend}")
    t_all = time.perf_counter()
    ran = 0
    for i, source in enumerate(sources, 1):
        tag = f"[{i}/{len(sources)}] {source.stem} ({args.profile}" + (f", seed {args.seed})" if args.seed else ")")
        if not args.force and is_up_to_date(source, lipnb_sha, args.profile, args.seed, args.backend):
            print(f"{tag}: up to date", flush=True)
            continue
        t0 = time.perf_counter()
        print(f"{tag}: executing ...", flush=True)
        try:
            execute(source, lipnb_sha, args.profile, workdir, seed=args.seed, backend=args.backend,
                    kernel=args.kernel)
        except Exception as exc:  # report which notebook and which cell failed
            cell = getattr(exc, "exec_count", None)
            where = f"cell [{cell}]" if cell is not None else "outside a cell"
            detail = f"{getattr(exc, 'ename', type(exc).__name__)}: {getattr(exc, 'evalue', exc)}"
            print(f"{tag}: FAILED in {where}: {detail}", file=sys.stderr)
            print(f"  partial output: {workdir / (source.stem + '.ipynb')}; kernel log: "
                  f"{workdir / (source.stem + '.kernel.log')}; "
                  "committed files were left unchanged", file=sys.stderr)
            return 1
        ran += 1
        seconds = time.perf_counter() - t0
        (workdir / f"{source.stem}.seconds").write_text(f"{seconds:.1f}\n")  # see recorded_seconds
        print(f"{tag}: done in {seconds:.1f} s", flush=True)
    summary = write_summary(args.profile, args.seed, args.backend)
    print(f"{ran} of {len(sources)} notebooks executed in {time.perf_counter() - t_all:.1f} s; "
          f"claims: {summary.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
