
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
    entry = run.claim("ok-claim", "A statement.", "eq. (1)", "article", {"x": np.float32(1.5)},
                      holds=np.bool_(True))
    assert entry["verdict"] == "holds" and entry["kind"] == "article" and "holds" not in entry
    bad = [
        (dict(id="ok-claim", holds=True), "twice"),
        (dict(id="other", holds=1), "boolean"),
        (dict(id="Bad Id", holds=True), "slug"),
        (dict(id="nan-claim", measured={"x": float("nan")}, holds=True), "not finite"),
        (dict(id="empty", measured={}, holds=True), "measured"),
        (dict(id="no-kind", kind="paper", holds=True), "kind must be one of"),
        (dict(id="no-verdict"), "exactly one of"),
        (dict(id="two-verdicts", holds=True, verdict="inconclusive", note="n"), "exactly one of"),
        (dict(id="typed-verdict", verdict="holds"), "only verdict='inconclusive'"),
        (dict(id="silent-inconclusive", verdict="inconclusive"), "what would decide it"),
        (dict(id="bad-evidence", evidence={"a": 1}), "evidence must be"),
    ]
    for kwargs, match in bad:
        args = dict(statement="A statement.", article="eq. (1)", kind="article", measured={"x": 1})
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            run.claim(**args)


def test_claim_verdict_follows_the_evidence():
    run = lipnb.NotebookRun("00_test", "quick", 0, {})
    up = lipnb.stats.paired_comparison([1.0, 1.2, 1.1], [0.0, 0.1, 0.0], direction="greater")
    flat = lipnb.stats.paired_comparison([1.0, -1.2, 1.1], [0.0, 0.1, 0.0], direction="greater")
    assert run.claim("a", "S.", "eq. (1)", "article", {"x": 1}, evidence=up)["verdict"] == "holds"
    entry = run.claim("b", "S.", "eq. (1)", "beyond", {"x": 1}, evidence={"small": up, "large": flat},
                      note="more seeds")
    assert entry["verdict"] == "inconclusive"
    assert set(entry["evidence"]) == {"small", "large"} and entry["evidence"]["small"]["n"] == 3
    # a notebook cell ending in run.claim(...) shows one line, not the whole dict
    assert repr(entry).startswith("b (beyond): inconclusive; small: ")
    assert entry._repr_markdown_().startswith("`b` (beyond): **inconclusive**")


def test_finish_without_claims_fails():
    with pytest.raises(ValueError, match="no claims"):
        lipnb.NotebookRun("00_test", "smoke", 0, {}).finish()


def test_jsonable_rejects_objects():
    with pytest.raises(ValueError, match="JSON"):
        jsonable({"a": object()})


def test_seeded_predictions_write_nothing_to_stderr(tmp_path):
    """After seed_everything (op determinism on), lipnb's prediction helpers are silent.

    Keras's model.predict with a last partial batch makes TF 2.21 log a spurious
    MapDataset error under op determinism; lipnb.predict does not go through tf.data.
    """
    import subprocess
    import sys

    code = ("import numpy as np, lipnb\n"
            "lipnb.seed_everything(0)\n"
            "x_tr, y_tr, x_te, y_te = lipnb.load_digits_split(seed=0)\n"
            "m = lipnb.digits_mlp(seed=0)\n"
            "lipnb.accuracy(m, x_te, y_te, batch_size=100)\n"   # 453 rows: a partial last batch
            "import sys; print('PREDICT-DONE', file=sys.stderr)\n"
            "m.predict(x_te, batch_size=100, verbose=0)\n")      # the Keras path, for contrast
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         check=True).stderr
    ours, keras_path = err.split("PREDICT-DONE")
    assert "use_unbounded_threadpool" not in ours
    # If this starts failing, TensorFlow fixed the bug and lipnb.predict's note can go.
    assert "use_unbounded_threadpool" in keras_path


def test_predict_validates_and_batches():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(7, 3)).astype("float32")
    np.testing.assert_allclose(lipnb.predict(model, x, batch_size=3), model(x).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        lipnb.predict(model, x, batch_size=0)
    with pytest.raises(ValueError, match="at least one example"):
        lipnb.predict(model, x[:0])
