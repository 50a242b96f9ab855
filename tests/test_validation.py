"""lipnb.validation: one check, one wording, for each kind of argument mistake."""

import numpy as np
import pytest

from lipnb import validation


@pytest.mark.parametrize("check, good, bad", [
    (validation.positive_int, [(1, 1), (np.int64(3), 3)], [0, -1, 2.0, True, "3", None]),
    (validation.nonnegative_int, [(0, 0), (np.int32(5), 5)], [-1, 1.5, False]),
    (validation.integer, [(-1, -1), (np.int64(2), 2)], [1.0, True, "1"]),
])
def test_integer_checks(check, good, bad):
    for value, want in good:
        out = check(value, "arg")
        assert out == want and type(out) is int
    for value in bad:
        with pytest.raises(ValueError, match="arg"):
            check(value, "arg")


def test_number_accepts_scalars_and_bounds_them():
    assert validation.number(np.float32(0.5), "x") == 0.5
    assert validation.number(np.array(2.0), "x") == 2.0  # 0-d arrays count as their value
    assert validation.number(0.0, "x", minimum=0.0) == 0.0
    for value, kwargs in ((float("nan"), {}), (float("inf"), {}), (True, {}), ("1", {}), (0.0, dict(minimum=0.0,
                                                                                                     strict=True))):
        with pytest.raises(ValueError, match="x must be a finite number"):
            validation.number(value, "x", **kwargs)


def test_widths_and_int_tuples():
    assert validation.widths([64, np.int64(32)]) == (64, 32)
    for bad in ((2.7,), (), (0,), "64", 16, (True,)):
        with pytest.raises(ValueError, match="hidden must be a non-empty list of positive integer widths"):
            validation.widths(bad)
    assert validation.int_tuple(2, "strides", 2) == (2, 2)
    assert validation.int_tuple([1, np.int64(3)], "strides", 2) == (1, 3)
    for bad in ((1, 2, 3), (0, 1), (1.5, 1), "2", True):
        with pytest.raises(ValueError, match="strides"):
            validation.int_tuple(bad, "strides", 2)


def test_choices_fractions_and_rngs():
    assert validation.one_of("a", "mode", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="unknown mode 'c'; choose one of 'a', 'b'"):
        validation.one_of("c", "mode", ("a", "b"))
    assert validation.open_fraction(0.2, "fraction") == 0.2
    for bad in (0, 1, 1.5, True):
        with pytest.raises(ValueError, match="fraction must be in"):
            validation.open_fraction(bad, "fraction")
    for rng in (np.random.default_rng(0), np.random.RandomState(0)):
        assert validation.numpy_rng(rng) is rng
    with pytest.raises(ValueError, match="Generator"):
        validation.numpy_rng(0)


def test_batches():
    out = validation.batch(np.ones((2, 3), "float64"))
    assert out.dtype == np.float32 and out.shape == (2, 3)
    for bad in (np.ones(3), np.ones((0, 3)), 1.0):
        with pytest.raises(ValueError, match=r"x must be a non-empty batch \(rank >= 2; one example: x\[None\]\)"):
            validation.batch(bad)
    with pytest.raises(ValueError, match="real has non-finite entries"):
        validation.batch(np.array([[0.0, np.inf]]), "real")


def test_labels():
    np.testing.assert_array_equal(validation.labels([1, 2, 3], 3), [1, 2, 3])
    np.testing.assert_array_equal(validation.labels(np.array([[1], [2]]), 2), [1, 2])  # a column of labels
    assert validation.labels(np.array([1.0, 2.0]), 2, dtype=np.int32).dtype == np.int32
    for bad in (np.zeros(3), np.zeros((2, 2)), np.zeros((1, 2))):  # (2, 2) must not pass as 4 labels
        with pytest.raises(ValueError, match=r"y must hold one integer label per example, shape \(4,\)"):
            validation.labels(bad, 4)


def test_to_numpy_and_twin_variables():
    import keras

    v = keras.Variable(np.ones((2, 2), "float32"))
    assert isinstance(validation.to_numpy(v), np.ndarray)
    assert isinstance(validation.to_numpy(keras.ops.ones(2)), np.ndarray)
    a = [keras.Variable(np.ones(2)), keras.Variable(np.ones((2, 3)))]
    b = [keras.Variable(np.zeros(2)), keras.Variable(np.zeros((2, 3)))]
    assert validation.twin_variables(a, b) == (a, b)
    with pytest.raises(RuntimeError, match="not the same architecture"):
        validation.twin_variables(a, b[:1])
    with pytest.raises(RuntimeError, match="not the same architecture"):
        validation.twin_variables(a, b[::-1])
