"""The make and conda environments come from one package list; CI runs make test."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def requirement_names(path):
    names = []
    for line in (ROOT / path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.append(re.split(r"[<>=\[;\s]", line)[0].lower().replace("_", "-"))
    return names


def pins():
    return {name: line.split("==")[1] for name, line in zip(
        requirement_names("constraints.txt"),
        [l for l in (ROOT / "constraints.txt").read_text().splitlines() if l and not l.startswith("#")])}


def test_every_requirement_is_pinned_exactly():
    lines = [l for l in (ROOT / "constraints.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.\-+]+", l) for l in lines), lines
    pinned = pins()
    for name in requirement_names("requirements.txt") + ["tensorflow", "tensorflow-cpu"]:
        assert name in pinned, f"{name} has no pin in constraints.txt"
    assert pinned["tensorflow"] == pinned["tensorflow-cpu"]


def test_conda_environment_uses_the_same_files():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert sorted(d.split("=")[0] for d in conda) == ["pip", "python"]  # nothing to drift
    assert "-r requirements.txt" in pip and "-c constraints.txt" in pip and "-e ." in pip
    extra = [p for p in pip if not p.startswith(("-r ", "-c ", "-e "))]
    assert extra == ["tensorflow-cpu"]  # pinned through constraints.txt like in make
    python = next(d for d in conda if d.startswith("python"))
    assert re.fullmatch(r"python=3\.\d+", python)


def test_makefile_installs_from_the_same_files():
    make = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt -r requirements.txt" in make
    assert "tensorflow[and-cuda]" in make and "tensorflow-cpu" in make
    for var in ("JUPYTER_DATA_DIR", "IPYTHONDIR", "KERAS_HOME", "MPLCONFIGDIR"):
        assert f"export {var} := $(STATE)" in make


def test_the_state_folder_exists_before_the_kernel_is_installed():
    # IPYTHONDIR points into build/state: installing the kernel before the folder exists
    # printed "IPython parent ... is not a writable location" on a fresh clone.
    recipe = re.search(r"^\$\(STAMP\):\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    lines = recipe.splitlines()
    made = next(i for i, line in enumerate(lines) if "mkdir -p $(STATE)" in line)
    installed = next(i for i, line in enumerate(lines) if "ipykernel install" in line)
    assert made < installed


def test_ci_runs_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111


def test_state_folders_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "build/" in ignored and ".venv/" in ignored
