"""lipnb.backend: the same weights give the same numbers on every Keras backend.

Each backend runs in its own process (Keras picks its backend once, at import). The
PyTorch backend joins the comparison where torch is installed; the pinned environment
has TensorFlow and JAX.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

BACKENDS = ["tensorflow", "jax"] + (["torch"] if importlib.util.find_spec("torch") else [])

SCRIPT = r'''
import json
import keras
import numpy as np
import lipnb

rng = np.random.default_rng(0)
def dense_model(units, activation, inputs):
    model = keras.Sequential([keras.Input((inputs,)), *[keras.layers.Dense(u, activation=a)
                                                       for u, a in zip(units, activation)]])
    for v in model.weights:
        v.assign(rng.standard_normal(v.shape).astype("float32") * 0.5)
    return model

out = {"backend": keras.backend.backend()}
sn = keras.Sequential([keras.Input((4,)), lipnb.SpectralNormalization(keras.layers.Dense(8, activation="tanh")),
                       lipnb.SpectralNormalization(keras.layers.Dense(3))])
for layer in sn.layers:
    layer.layer.kernel.assign(rng.standard_normal(layer.layer.kernel.shape).astype("float32"))
    layer.layer.bias.assign(rng.standard_normal(layer.layer.bias.shape).astype("float32"))
out["sigmas"] = sorted(lipnb.warm_up(sn).values())
out["sn_upper"] = lipnb.lipschitz_upper_bound(sn)
x = rng.standard_normal((6, 4)).astype("float32")
out["sn_outputs"] = keras.ops.convert_to_numpy(sn(x)).ravel().tolist()

model = dense_model((16, 3), ("tanh", None), 4)
out["upper"] = lipnb.lipschitz_upper_bound(model)
out["jacobian"] = lipnb.jacobian_spectral_norms(model, x).tolist()
out["lower"] = lipnb.lipschitz_lower_bound(model, x, steps=5)
out["input_gradient"] = lipnb.loss_input_gradient(model, x, np.arange(6) % 3).ravel().tolist()

critic = dense_model((16, 1), ("tanh", None), 4)
real, fake = x, rng.standard_normal((6, 4)).astype("float32")
eps = rng.uniform(size=6).astype("float32")
gp, norms = lipnb.gradient_penalty(critic, real, fake, epsilon=eps, return_norms=True)
out["gp"] = float(gp)
out["gp_norms"] = keras.ops.convert_to_numpy(norms).tolist()
out["slopes"] = lipnb.critic_gradient_norms(critic, x).tolist()

conv = keras.Sequential([keras.Input((6, 6, 2)),
                         lipnb.SpectralNormalization(keras.layers.Conv2D(3, 3, padding="same"), mode="operator")])
conv.layers[0].layer.kernel.assign(rng.standard_normal((3, 3, 2, 3)).astype("float32"))
out["conv_sigma"] = list(lipnb.warm_up(conv).values())
out["conv_upper"] = lipnb.lipschitz_upper_bound(conv)
reg = lipnb.SpectralNormRegularizer(1.0, power_iterations=50)
out["regularizer"] = float(reg(keras.ops.convert_to_tensor(rng.standard_normal((5, 4)).astype("float32"))))
print("RESULT " + json.dumps(out))
'''


def run_on(backend: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_import_does_not_load_tensorflow_on_other_backends():
    code = "import sys, lipnb; print('tensorflow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_unsupported_backend_is_named():
    from lipnb import backend

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backend.keras.backend, "backend", lambda: "openvino")
        with pytest.raises(RuntimeError, match="'openvino'"):
            backend.name()


def test_backends_agree_on_the_same_weights():
    results = {b: run_on(b) for b in BACKENDS}
    reference = results["tensorflow"]
    for backend, values in results.items():
        assert values["backend"] == backend
        for key, value in reference.items():
            if key == "backend":
                continue
            np.testing.assert_allclose(np.asarray(values[key], float), np.asarray(value, float), rtol=2e-5,
                                       atol=1e-6, err_msg=f"{key} on {backend}")
