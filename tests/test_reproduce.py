"""The incremental runner: content-hash staleness, atomic outputs, failures that name the cell."""

import json
import os

import pytest
import reproduce

TINY = '''# %% tags=["parameters"]
profile = "quick"
seed = 0

# %%
from lipnb.repro import NotebookRun
run = NotebookRun("{name}", profile, seed, {{}})
run.claim("tiny-claim", "One is one.", "eq. (0)", "article", {{"value": {value}}}, holds={value} == 1)
run.finish();
'''

FAILING = '''# %% tags=["parameters"]
profile = "quick"
seed = 0

# %%
x = 1

# %%
raise RuntimeError("deliberate failure")
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setattr(reproduce, "ROOT", tmp_path)
    monkeypatch.setattr(reproduce, "NOTEBOOKS", tmp_path / "notebooks")
    return tmp_path


@pytest.mark.notebook
def test_runs_once_then_is_up_to_date(project, capsys):
    src = project / "notebooks" / "98_tiny.py"
    src.write_text(TINY.format(name="98_tiny", value=1))
    assert reproduce.main([]) == 0
    ipynb, results = project / "notebooks" / "98_tiny.ipynb", project / "results" / "98_tiny.json"
    data = json.loads(results.read_text())
    assert data["source_sha256"] == reproduce.sha256_file(src)
    assert data["claims"][0]["verdict"] == "holds"
    assert json.loads(ipynb.read_text())["metadata"]["lipnb"]["lipnb_sha256"] == reproduce.package_hash()
    summary = (project / "results" / "SUMMARY.md").read_text()
    assert "`tiny-claim`" in summary and "Of the article's 1 claims, 1 hold, 0 do not" in summary

    before = {p: p.read_bytes() for p in (ipynb, results, project / "results" / "SUMMARY.md")}
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    capsys.readouterr()
    assert reproduce.main([]) == 0
    out = capsys.readouterr().out
    assert "up to date" in out and "0 of 1 notebooks executed" in out
    assert all(p.read_bytes() == b and p.stat().st_mtime_ns == mtimes[p] for p, b in before.items())

    src.write_text(TINY.format(name="98_tiny", value=2))  # the source changed: stale
    assert reproduce.main([]) == 0
    assert json.loads(results.read_text())["claims"][0]["verdict"] == "does not hold"
    assert "Of the article's 1 claims, 0 hold, 1 do not" in (project / "results" / "SUMMARY.md").read_text()


@pytest.mark.notebook
def test_failure_names_notebook_and_cell_and_keeps_outputs(project, capsys):
    (project / "notebooks" / "97_fails.py").write_text(FAILING)
    ipynb, results = project / "notebooks" / "97_fails.ipynb", project / "results" / "97_fails.json"
    results.parent.mkdir()
    ipynb.write_text("committed notebook")
    results.write_text("committed results")
    assert reproduce.main([]) == 1
    err = capsys.readouterr().err
    assert "97_fails" in err and "cell [3]" in err and "deliberate failure" in err
    assert ipynb.read_text() == "committed notebook"
    assert results.read_text() == "committed results"


def test_unknown_profile_and_notebook_are_errors(project):
    with pytest.raises(SystemExit):
        reproduce.main(["--profile", "medium"])
    with pytest.raises(SystemExit, match="no notebook named 42"):
        reproduce.main(["--only", "42"])
    with pytest.raises(SystemExit):  # an empty --only (an unset shell variable) must not mean "all"
        reproduce.main(["--only"])


def test_other_profiles_write_to_build(project):
    src = project / "notebooks" / "01_x.py"
    ipynb, results = reproduce.output_paths(src, "full")
    assert ipynb == project / "build" / "full" / "notebooks" / "01_x.ipynb"
    assert results == project / "build" / "full" / "results" / "01_x.json"
    assert reproduce.output_paths(src, "quick")[0] == src.with_suffix(".ipynb")


@pytest.mark.notebook
def test_another_seed_writes_only_to_build(project):
    """make reproduce SEED=1 runs with seed 1 and leaves the committed files alone."""
    src = project / "notebooks" / "98_tiny.py"
    src.write_text(TINY.format(name="98_tiny", value=1))
    assert reproduce.main(["--seed", "1"]) == 0
    assert not src.with_suffix(".ipynb").exists() and not (project / "results").exists()
    ipynb, results = reproduce.output_paths(src, "quick", seed=1)
    assert ipynb == project / "build" / "seed-1" / "quick" / "notebooks" / "98_tiny.ipynb"
    assert json.loads(results.read_text())["seed"] == 1
    assert (results.parent / "SUMMARY.md").exists()
    assert reproduce.is_up_to_date(src, reproduce.package_hash(), "quick", seed=1)
    assert not reproduce.is_up_to_date(src, reproduce.package_hash(), "quick", seed=2)
    with pytest.raises(SystemExit):
        reproduce.main(["--seed", "-1"])


def test_other_backends_write_to_build(project):
    src = project / "notebooks" / "01_x.py"
    ipynb, results = reproduce.output_paths(src, "quick", backend="jax")
    assert ipynb == project / "build" / "jax" / "quick" / "notebooks" / "01_x.ipynb"
    assert results == project / "build" / "jax" / "quick" / "results" / "01_x.json"
    with pytest.raises(SystemExit):
        reproduce.main(["--backend", "theano"])


@pytest.mark.notebook
def test_gpu_run_path_on_cpu_with_jax(tmp_path, monkeypatch):
    """tools/gpu_run.py, as on a GPU node, here on JAX's CPU: two notebooks' smoke runs, then the report.
    As on a GPU, the seeds train side by side (forced here; a CPU's default is one after another),
    so 08's WGANs go through the stacked, vmapped steps that only a GPU run would otherwise take."""
    import gpu_run

    monkeypatch.setenv("LIPNB_SIDE_BY_SIDE", "1")
    assert gpu_run.main(["run", "--profile", "smoke", "--backend", "jax", "--kernel", reproduce.KERNEL,
                         "--only", "01", "08", "--jobs", "2", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "gpu.json").read_text())
    assert record["backend"] == "jax" and set(record["notebooks"]) == {"01_lipschitz_constraint",
                                                                       "08_constraint_vs_reparameterization"}
    assert record["lipnb_sha256"] == reproduce.package_hash()
    for info in record["notebooks"].values():
        assert info["status"] == "ok" and info["verdicts"]
        assert set(info["verdicts"].values()) <= {"holds", "does not hold", "inconclusive"}
    md = tmp_path / "gpu.md"
    assert gpu_run.main(["report", "--run", str(tmp_path / "gpu.json"), "--md", str(md), "--no-readme"]) == 0
    text = md.read_text()
    assert "01_lipschitz_constraint" in text and "verdicts compared" in text
    # The same backend's CPU results as a column: here the run's own, so each row repeats its verdict.
    same = tmp_path / "same"
    same.mkdir()
    claims = [{"id": claim, "verdict": "inconclusive"}
              for claim in record["notebooks"]["08_constraint_vs_reparameterization"]["verdicts"]]
    (same / "08_constraint_vs_reparameterization.json").write_text(json.dumps({"claims": claims}))
    assert gpu_run.main(["report", "--run", str(tmp_path / "gpu.json"), "--md", str(md), "--no-readme",
                         "--same-backend-cpu", str(same)]) == 0
    rows = [line for line in md.read_text().splitlines()
            if line.startswith("| 08_constraint_vs_reparameterization | 1 |")]
    assert rows and all(line.endswith("| inconclusive |") for line in rows)
    assert "| jax on CPU |" in md.read_text()


def test_gpu_run_cells_lists_the_slowest_cells(tmp_path, capsys):
    """The per-cell times papermill leaves in a run's work folder, slowest first; a notebook
    stopped mid-run counts its finished cells only."""
    import gpu_run

    cell = lambda src, sec: {"cell_type": "code", "source": src,  # noqa: E731
                             "metadata": {} if sec is None else {"papermill": {"duration": sec}}}
    nb = {"cells": [cell("fast()", 0.5), {"cell_type": "markdown", "source": "# x", "metadata": {}},
                    cell("slow()\nmore", 12.25), cell("never_ran()", None)]}
    (tmp_path / "05_x.ipynb").write_text(json.dumps(nb))
    (tmp_path / "05_x.input.ipynb").write_text(json.dumps(nb))  # the runner's input copy: skipped
    assert gpu_run.cell_seconds(tmp_path / "05_x.ipynb") == [(12.25, 2, "slow()"), (0.5, 0, "fast()")]
    assert gpu_run.main(["cells", str(tmp_path), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "**05_x**: 12.8 s over 2 finished cells" in out and "| 2 | 12.2 | `slow()` |" in out
    assert "fast()" not in out and out.count("**05_x") == 1
    with pytest.raises(SystemExit, match="no executed notebooks"):
        gpu_run.main(["cells", str(tmp_path / "empty")])


def test_the_kernel_imports_this_checkouts_lipnb(project, monkeypatch):
    # A Python with the dependencies but without lipnb installed (an offline GPU node)
    # must still run the notebooks: the kernel gets the checkout on its PYTHONPATH.
    import papermill

    seen = {}

    def fake_execute(source, out, **kwargs):
        seen["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
        raise RuntimeError("stop after the kernel's environment is set")

    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    (project / "notebooks" / "98_tiny.py").write_text(TINY.format(name="98_tiny", value=1))
    assert reproduce.main([]) != 0
    assert seen["PYTHONPATH"].split(os.pathsep)[:2] == [str(reproduce.SOURCE_ROOT), "/elsewhere"]
    assert (reproduce.SOURCE_ROOT / "lipnb" / "__init__.py").exists()
