"""Determinism of recorded results, and interrupted runs that leave committed files intact."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import reproduce
from notebook_runner import execute_notebook, recorded_claims

ROOT = Path(__file__).resolve().parent.parent


def smoke_results(stem, workdir):
    path = execute_notebook(reproduce.NOTEBOOKS / f"{stem}.py", workdir, profile="smoke")
    return [c["measured"] for c in recorded_claims(path)]


@pytest.mark.notebook
@pytest.mark.parametrize("stem", ["02_frobenius_bound", "04_power_iteration"])
def test_two_runs_record_identical_values(stem, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = smoke_results(stem, tmp_path / "a")
    second = smoke_results(stem, tmp_path / "b")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


NOTEBOOK = '''# %% tags=["parameters"]
profile = "quick"
seed = 0

# %%
import os, time
time.sleep(float(os.environ.get("LIPNB_TEST_SLEEP", "0")))
from lipnb.repro import NotebookRun
run = NotebookRun("{name}", profile, seed, {{}})
run.claim("ok", "Fine.", "eq. (0)", "article", {{"value": 1}}, holds=True)
run.finish();
'''

DRIVER = '''
import sys
sys.path.insert(0, {tools!r})
from pathlib import Path
import reproduce
reproduce.ROOT = Path({root!r})
reproduce.NOTEBOOKS = reproduce.ROOT / "notebooks"
sys.exit(reproduce.main([]))
'''


@pytest.mark.notebook
def test_interrupt_keeps_committed_files_and_rerun_resumes(tmp_path):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    for name in ("95_first", "96_second"):
        (nbdir / f"{name}.py").write_text(NOTEBOOK.format(name=name))
    driver = DRIVER.format(tools=str(ROOT / "tools"), root=str(tmp_path))
    # The committed files are the default backend's (other backends write under build/BACKEND/).
    env = dict(os.environ, LIPNB_TEST_SLEEP="0", KERAS_BACKEND=reproduce.DEFAULT_BACKEND)
    subprocess.run([sys.executable, "-c", driver], env=env, check=True, capture_output=True, timeout=300)
    committed = {p: p.read_bytes() for p in [*nbdir.glob("*.ipynb"), *(tmp_path / "results").glob("*")]}
    assert len(committed) == 5  # two notebooks, two results, the summary

    (nbdir / "96_second.py").write_text(NOTEBOOK.format(name="96_second") + "\n# edited\n")
    env["LIPNB_TEST_SLEEP"] = "60"
    proc = subprocess.Popen([sys.executable, "-c", driver], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while not (tmp_path / "build" / "tmp" / "quick" / "96_second.kernel.log").exists():
        assert time.time() < deadline and proc.poll() is None, "the runner never reached the notebook"
        time.sleep(0.5)
    time.sleep(3)  # inside the sleeping cell
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up: the hardest interrupt
    proc.wait()
    for path, content in committed.items():
        assert path.read_bytes() == content, f"{path.name} changed by an interrupted run"

    env["LIPNB_TEST_SLEEP"] = "0"
    out = subprocess.run([sys.executable, "-c", driver], env=env, check=True, capture_output=True,
                         text=True, timeout=300).stdout
    assert "95_first (quick): up to date" in out
    assert "96_second (quick): done" in out and "1 of 2 notebooks executed" in out
    data = json.loads((tmp_path / "results" / "96_second.json").read_text())
    assert data["source_sha256"] == reproduce.sha256_file(nbdir / "96_second.py")


@pytest.mark.notebook
def test_gan_notebook_records_identical_values_apart_from_timings(tmp_path):
    """WGAN training, sampling and the slope logs are seeded: two smoke runs of notebook 06
    differ only in the wall-clock times they measure."""
    import compare_results

    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        path = execute_notebook(reproduce.NOTEBOOKS / "06_wgan_gp_vs_sn.py", tmp_path / name, profile="smoke")
        runs.append({"claims": recorded_claims(path)})
    assert compare_results.differences(*runs) == []
    steps = [c["measured"] for c in runs[0]["claims"] if c["id"] == "gp-step-slower"][0]["seconds_per_step_by_round"]
    assert set(steps) == {"clip", "gp", "gp-one-sided", "sn"}  # the timings that were excluded


def test_compare_results_sees_changed_values_and_verdicts():
    import compare_results

    a = {"claims": [{"id": "x", "measured": {"value": 1.0, "seconds": 3.0, "nested": {"time_s": 1}},
                     "verdict": "holds"}]}
    b = json.loads(json.dumps(a))
    b["claims"][0]["measured"]["seconds"] = 4.0
    b["claims"][0]["measured"]["nested"]["time_s"] = 2
    assert compare_results.differences(a, b) == []
    b["claims"][0]["measured"]["value"] = 1.0 + 1e-9  # round-off on another CPU: within rtol
    assert compare_results.differences(a, b) == []
    b["claims"][0]["measured"]["value"] = 1.001
    b["claims"][0]["verdict"] = "inconclusive"
    assert compare_results.differences(a, b) == [
        "claim 'x': verdict 'holds' vs 'inconclusive'",
        "claim 'x': measured values differ (largest relative difference 1.0e-03)"]
    assert compare_results.differences(a, b, verdicts_only=True) == ["claim 'x': verdict 'holds' vs 'inconclusive'"]
    assert compare_results.differences(a, b, rtol=1e-2) == ["claim 'x': verdict 'holds' vs 'inconclusive'"]
    # Results from before the three-verdict schema still compare.
    old = {"claims": [{"id": "x", "measured": {"value": 1.0}, "holds": True}]}
    assert compare_results.differences(old, {"claims": [{"id": "x", "measured": {"value": 1.0},
                                                         "verdict": "holds"}]}) == []
    # A verdict that rests on timings alone may flip with machine noise.
    timed = {"claims": [{"id": "t", "measured": {"seconds_per_step": {"gp": 2.0, "sn": 1.0},
                                                 "time_ratio_gp_over_sn": 2.0},
                         "verdict": "holds"}]}
    flipped = {"claims": [{"id": "t", "measured": {"seconds_per_step": {"gp": 1.0, "sn": 2.0},
                                                   "time_ratio_gp_over_sn": 0.5},
                           "verdict": "does not hold"}]}
    assert compare_results.differences(timed, flipped) == []


def test_compare_results_fails_when_there_is_nothing_or_not_everything_to_compare(tmp_path, capsys):
    import compare_results

    one = {"claims": [{"id": "x", "measured": {"value": 1.0}, "verdict": "holds"}]}
    a, b, empty = tmp_path / "a", tmp_path / "b", tmp_path / "empty"
    for folder in (a, b, empty):
        folder.mkdir()
    (a / "01_x.json").write_text(json.dumps(one))
    (b / "01_x.json").write_text(json.dumps(one))
    assert compare_results.main([str(a), str(b)]) == 0
    (b / "02_y.json").write_text(json.dumps(one))  # on one side only, in either order
    assert compare_results.main([str(a), str(b)]) == 1
    assert compare_results.main([str(b), str(a)]) == 1
    assert "02_y.json: missing on one side" in capsys.readouterr().out
    for argv in ([str(empty), str(empty)], [str(tmp_path / "typo"), str(a)], ["--against", "no-such-revision"]):
        with pytest.raises(SystemExit):
            compare_results.main(argv)
