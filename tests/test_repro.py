import json

import numpy as np
import pytest

import lipnb
from lipnb.repro import jsonable

PROFILES = {"smoke": {"n": 1}, "quick": {"n": 2}, "full": {"n": 3}}


def namespace(**extra):
    ns = {"profile": "quick", "seed": 0, "In": [], "Out": {}, "np": np, "__name__": "__main__",
          "_i1": "x = 1", "get_ipython": print}
    ns.update(extra)
    return ns


def test_start_notebook_picks_profile_sizes():
    run = lipnb.start_notebook("00_test", namespace(profile="smoke"), PROFILES)
    assert run.size.n == 1 and run.profile == "smoke" and run.seed == 0


def test_unknown_profile_is_named():
    with pytest.raises(ValueError, match="unknown profile 'medium'"):
        lipnb.start_notebook("00_test", namespace(profile="medium"), PROFILES)


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match="unknown parameter\\(s\\) epochs"):
        lipnb.start_notebook("00_test", namespace(epochs=3), PROFILES)


def test_profiles_must_be_complete_and_consistent():
    with pytest.raises(ValueError, match="exactly"):
        lipnb.start_notebook("00_test", namespace(), {"quick": {"n": 1}})
    with pytest.raises(ValueError, match="same sizes"):
        lipnb.start_notebook("00_test", namespace(), {**PROFILES, "full": {"m": 1}})


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        lipnb.seed_everything(seed)


def test_seeding_repeats_keras_initializers():
    import keras

    outs = []
    for _ in range(2):
        lipnb.seed_everything(7)
        outs.append(keras.random.normal((3,)).numpy())
    np.testing.assert_array_equal(*outs)


def test_claims_are_validated():
    run = lipnb.NotebookRun("00_test", "quick", 0, {})
    run.claim("ok-claim", "A statement.", "eq. (1)", {"x": np.float32(1.5)}, np.bool_(True))
    with pytest.raises(ValueError, match="twice"):
        run.claim("ok-claim", "A statement.", "eq. (1)", {"x": 1}, True)
    with pytest.raises(ValueError, match="boolean"):
        run.claim("other", "A statement.", "eq. (1)", {"x": 1}, 1)
    with pytest.raises(ValueError, match="slug"):
        run.claim("Bad Id", "A statement.", "eq. (1)", {"x": 1}, True)
    with pytest.raises(ValueError, match="not finite"):
        run.claim("nan-claim", "A statement.", "eq. (1)", {"x": float("nan")}, True)
    with pytest.raises(ValueError, match="measured"):
        run.claim("empty", "A statement.", "eq. (1)", {}, True)


def test_finish_writes_results(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    monkeypatch.setenv("LIPNB_RESULTS_PATH", str(path))
    run = lipnb.NotebookRun("00_test", "smoke", 3, {})
    run.claim("a", "S.", "eq. (2)", {"v": np.arange(3)}, True, note="n")
    run.finish()
    data = json.loads(path.read_text())
    assert data == {"notebook": "00_test", "profile": "smoke", "seed": 3, "claims": [
        {"id": "a", "statement": "S.", "article": "eq. (2)", "measured": {"v": [0, 1, 2]},
         "holds": True, "note": "n"}]}


def test_finish_without_claims_fails():
    with pytest.raises(ValueError, match="no claims"):
        lipnb.NotebookRun("00_test", "smoke", 0, {}).finish()


def test_jsonable_rejects_objects():
    with pytest.raises(ValueError, match="JSON"):
        jsonable({"a": object()})
