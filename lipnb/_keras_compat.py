"""Every private Keras API lipnb touches, and the one backend detail the layers need.

Each private name here has a test in tests/test_keras_conformance.py that fails loudly
when a Keras release moves or changes it, instead of lipnb silently falling back.
"""

from __future__ import annotations

import contextlib

import keras
from keras.src.backend.common.stateless_scope import get_stateless_scope, in_stateless_scope
from keras.src.backend.common.variables import AutocastScope

__all__ = ["get_stateless_scope", "in_stateless_scope", "no_autocast", "outside_traced_function",
           "producer", "swapped_attribute", "stored_weight", "set_untracked", "jax_trainer_state",
           "set_jax_trainer_state"]

# Where Keras layers keep the variable a weight wrapper normalizes: Dense and the
# convolutions store their kernel as ``_kernel`` (``kernel`` is a property over it, for
# LoRA), Embedding its table as ``_embeddings``; the plain names cover layers that store
# the variable under its public name.
_WEIGHT_ATTRIBUTES = ("_kernel", "kernel", "_embeddings", "embeddings")
_JAX_STATE = ("trainable_variables", "non_trainable_variables", "optimizer_variables", "metrics_variables")


def no_autocast():
    """A context in which variables read in their stored dtype (mixed precision off)."""
    return AutocastScope(None)


def outside_traced_function():
    """A context that runs eagerly even while a ``tf.function`` is being traced.

    A Keras model without an ``Input`` layer builds its layers inside the first traced
    ``fit``/``predict`` step. Variables created there get their values only when the
    traced function first runs, so nothing can read them at build time. Creating them
    under ``tf.init_scope`` gives them their values at once, as in an eager build.
    Other backends have no such trace-time variables.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.init_scope()
    return contextlib.nullcontext()


def producer(tensor):
    """``(layer, input tensors)``: the call of a functional model that produced ``tensor``.

    Keras keeps this on each symbolic tensor as ``_keras_history`` (layer, node index,
    tensor index) and on the layer as ``_inbound_nodes``: both private.
    """
    layer, node_index, _ = tensor._keras_history
    return layer, list(layer._inbound_nodes[node_index].input_tensors)


@contextlib.contextmanager
def swapped_attribute(layer, name: str, value):
    """``layer.<name>`` is ``value`` inside the block, then what it was.

    Bypasses ``Layer.__setattr__``, which would track ``value`` as a new weight of the
    layer (or refuse a tensor where a variable was): the wrapped layer's own ``call``
    then runs unchanged on a normalized kernel.
    """
    original = layer.__dict__[name]
    object.__setattr__(layer, name, value)
    try:
        yield
    finally:
        object.__setattr__(layer, name, original)


def stored_weight(layer):
    """``(attribute name, variable)`` of the kernel or embedding ``layer`` stores, or None."""
    for name in _WEIGHT_ATTRIBUTES:
        value = layer.__dict__.get(name)
        if isinstance(value, keras.Variable):
            return name, value
    return None


def set_untracked(obj, name: str, value) -> None:
    """``obj.<name> = value`` without Keras's attribute tracking (a cache, not a weight)."""
    object.__setattr__(obj, name, value)


def jax_trainer_state(model) -> tuple:
    """The state tuple a JAX Keras model's compiled ``train_function`` takes and returns:
    (trainable, non-trainable, optimizer, metrics variables), as ``fit`` passes it."""
    return model._get_jax_state(**{name: True for name in _JAX_STATE})


def set_jax_trainer_state(model, state) -> None:
    """Write a state tuple from :func:`jax_trainer_state`'s steps back into the model's
    variables, as ``fit`` does when it ends."""
    model._jax_state = dict(zip(_JAX_STATE, state))
    model._jax_state_synced = False
    model.jax_state_sync()
