"""lipnb.conv: operator norms of convolutions against the dense operator's SVD."""

import keras
import numpy as np
import pytest

import lipnb

RNG = np.random.default_rng(1)


@pytest.mark.parametrize("kshape, spatial", [((3, 3, 2, 4), (6, 6)), ((1, 1, 3, 3), (4, 5)),
                                             ((5, 5, 1, 2), (8, 8)), ((3, 2, 4), (10,))])
def test_fft_norm_matches_dense_operator_svd(kshape, spatial):
    k = RNG.standard_normal(kshape)
    exact = np.linalg.svd(lipnb.conv_operator_matrix(k, spatial, padding="circular"), compute_uv=False)[0]
    assert lipnb.conv_operator_norm(k, spatial) == pytest.approx(exact, rel=1e-10)
    reshaped = lipnb.spectral_norm(k)
    # Both sides may be equal (a 1x1 kernel): the round-off tolerance goes on the larger side.
    assert reshaped <= exact * (1 + 1e-9) and exact <= np.sqrt(np.prod(kshape[:-2])) * reshaped * (1 + 1e-9)


@pytest.mark.parametrize("strides, padding", [(1, "same"), (1, "valid"), (2, "same"), (2, "valid")])
def test_power_norm_matches_dense_operator_svd(strides, padding):
    k = RNG.standard_normal((3, 3, 2, 3))
    dense = lipnb.conv_operator_matrix(k, (7, 7), strides=strides, padding=padding)
    exact = np.linalg.svd(dense, compute_uv=False)[0]
    assert lipnb.conv_operator_norm(k, (7, 7), strides=strides, padding=padding) == pytest.approx(exact, rel=1e-5)
    assert lipnb.conv_operator_norm_bound(k, (7, 7), strides=strides, padding=padding) >= exact * (1 - 1e-12)


def test_constant_kernel_reaches_sqrt_khkw():
    k = np.ones((3, 3, 1, 1))
    assert lipnb.conv_operator_norm(k, (8, 8)) / lipnb.spectral_norm(k) == pytest.approx(3.0)


def test_conv_norm_bad_inputs():
    with pytest.raises(ValueError, match="rank 3"):
        lipnb.conv_operator_norm(np.ones((3, 3)), (4, 4))
    with pytest.raises(ValueError, match="stride 1"):
        lipnb.conv_operator_norm(np.ones((3, 3, 1, 1)), (4, 4), strides=2)
    with pytest.raises(ValueError, match="padding"):
        lipnb.conv_operator_norm(np.ones((3, 3, 1, 1)), (4, 4), padding="reflect")
    with pytest.raises(ValueError, match="non-finite"):
        lipnb.conv_operator_norm(np.full((3, 3, 1, 1), np.nan), (4, 4))
    with pytest.raises(ValueError, match="channels"):
        lipnb.conv_operator_norm(np.ones((3, 3, 2, 1)), (4, 4, 3))
    with pytest.raises(ValueError, match="larger than the input"):
        lipnb.conv_operator_norm(np.ones((5, 5, 1, 1)), (3, 3))


def test_zero_kernels_have_norm_zero():
    # ARPACK cannot start from the zero vector a zero kernel maps everything to.
    assert lipnb.conv_operator_norm(np.zeros((3, 3, 2, 2)), (8, 8), padding="same") == 0.0
    assert lipnb.conv_operator_norm(np.zeros((3, 3, 2, 2)), (8, 8), padding="valid", method="power") == 0.0
    model = keras.Sequential([keras.Input((8, 8, 2)),
                              keras.layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros")])
    assert lipnb.lipschitz_upper_bound(model) == 0.0


def test_valid_convolution_on_an_input_smaller_than_the_kernel_is_named():
    with pytest.raises(ValueError, match="has no output on an input of size"):
        lipnb.conv_operator_norm(np.ones((3, 3, 1, 1)), (2, 2), padding="valid")


def test_conv_norm_arguments_must_be_integers_and_a_positive_tol():
    k = np.ones((3, 3, 1, 1))
    with pytest.raises(ValueError, match="strides"):
        lipnb.conv_operator_norm(k, (6, 6), strides=1.5, padding="same")
    with pytest.raises(ValueError, match="input_shape"):
        lipnb.conv_operator_norm(k, (6.7, 6), padding="same")
    for tol in (0.0, -1.0):
        with pytest.raises(ValueError, match="tol"):
            lipnb.conv_operator_norm(k, (6, 6), padding="same", tol=tol)
    with pytest.raises(ValueError, match="has no output on an input of size"):
        lipnb.conv_operator_norm_bound(np.ones((5, 5, 1, 1)), (3, 3), padding="valid")
