"""The few things Keras's ``ops`` cannot say alike on every backend: gradients.

Everything else in lipnb is written with ``keras.ops``. What differs between TensorFlow,
JAX and PyTorch is how a gradient is taken: a ``GradientTape``, a function transform, or
autograd. This module holds one implementation of each gradient lipnb needs per backend:

- :func:`input_gradient`: ``d sum(f(x)) / dx`` (gradient penalties, attacks, slopes,
  Jacobians), differentiable again where a penalty needs it;
- :func:`value_and_grad`: a loss and its gradient with respect to Keras variables, for
  training loops written once for all backends (on JAX through Keras's stateless scopes);
- :func:`linear_adjoint`: ``A^T y`` of a linear map ``A`` given as a function (the
  transposed convolution of a convolution layer);
- :func:`init_scope`: create variables eagerly even while TensorFlow traces a function.

And how a training step is compiled: :func:`compile_stateful` (a ``tf.function``, or on
JAX a jitted pure function, optionally a ``lax.scan`` over many steps, carrying every
variable the step assigns) and, on JAX, :func:`compile_batched` (many runs' states side
by side, ``jax.vmap``); :func:`wait` for the asynchronous device before a clock is read.

``import lipnb`` imports TensorFlow only when it is Keras's backend.
"""

from __future__ import annotations

import contextlib
import functools

import keras
from keras import ops

from lipnb._keras_compat import get_stateless_scope

__all__ = ["SUPPORTED", "name", "input_gradient", "value_and_grad", "linear_adjoint", "init_scope",
           "is_traced", "compile_stateful", "compile_batched", "side_by_side", "batched", "carries_state", "wait",
           "float64"]

SUPPORTED = ("tensorflow", "jax", "torch")


def name() -> str:
    """Keras's backend, checked to be one lipnb supports."""
    backend = keras.backend.backend()
    if backend not in SUPPORTED:
        raise RuntimeError(f"lipnb supports the Keras backends {', '.join(SUPPORTED)}; "
                           f"this Keras runs on {backend!r} (set KERAS_BACKEND to one of them)")
    return backend


def init_scope():
    """A context that creates variables eagerly, also inside a traced ``tf.function``."""
    if name() == "tensorflow":
        import tensorflow as tf

        return tf.init_scope()
    return contextlib.nullcontext()


def is_traced(x) -> bool:
    """Whether ``x`` is a symbolic value of a JAX transformation (jit, grad, vmap)."""
    if name() != "jax":
        return False
    import jax

    return isinstance(x, jax.core.Tracer)


def wait(tree):
    """``tree`` once its values are computed. JAX dispatches asynchronously: a compiled call
    returns before the device is done, so a clock read right after it would miss the work."""
    if name() == "jax":
        import jax

        return jax.block_until_ready(tree)
    return tree


def side_by_side() -> bool:
    """Whether many runs of one model train side by side by default (:func:`compile_batched`).

    Yes on JAX with an accelerator, which one small model leaves almost idle. Not on a CPU:
    there one such model already keeps the cores busy, side by side saves less (see
    ``benchmarks/results/dispatch.md``), and one after another each run computes exactly
    what it would alone, not up to the rounding of batched arithmetic.

    The environment variable ``LIPNB_SIDE_BY_SIDE`` overrides this default for a whole run
    (a notebook's, say): ``1`` side by side (JAX only), ``0`` one after another. A
    ``batched=`` argument given to a call overrides both; runs that cannot be stacked
    (:func:`lipnb.fit_classifiers` with per-model extra losses that list no state) train
    one after another whatever the default.
    """
    import os

    forced = os.environ.get("LIPNB_SIDE_BY_SIDE", "").strip()
    if forced not in ("", "0", "1"):
        raise ValueError(f"LIPNB_SIDE_BY_SIDE must be 0, 1 or unset, got {forced!r}")
    if forced == "1" and name() != "jax":
        raise ValueError(f"LIPNB_SIDE_BY_SIDE=1 needs Keras's JAX backend; this Keras runs on {name()!r}")
    if forced:
        return forced == "1"
    if name() != "jax":
        return False
    import jax

    return jax.default_backend() != "cpu"


def batched(requested: bool | None, stackable: bool = True) -> bool:
    """Whether a call that trains many runs (``batched=requested``) trains them side by side:
    as requested, or by default where :func:`side_by_side` says so and the runs can be
    stacked. Side by side off JAX is an error that names the backend.
    """
    if requested is None:
        return side_by_side() and stackable
    if requested and name() != "jax":
        raise ValueError(f"batched training runs on the JAX backend; this Keras runs on {name()!r}")
    return bool(requested)


def carries_state() -> bool:
    """Whether a variable assigned here keeps its new value for the next step.

    True eagerly, on TensorFlow and PyTorch, and inside lipnb's compiled steps on JAX
    (:func:`compile_stateful`, :func:`compile_batched`), which carry every variable the
    step assigns. False inside a stateless scope that drops updates to variables it does
    not know, as Keras's own JAX trainer does for state outside the model.
    """
    scope = get_stateless_scope()
    return scope is None or bool(getattr(scope, "carries", False))


def float64() -> str:
    """``"float64"`` where the backend computes in it; JAX does only with x64 enabled."""
    if name() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            return "float32"
    return "float64"


def input_jacobian(fn, x):
    """The Jacobian of ``fn`` at each example of ``x``, shape ``(n, outputs, *x.shape[1:])``.

    ``fn`` maps a batch ``(n, ...)`` to outputs ``(n, outputs)``, each example's outputs
    depending on that example alone (a model at inference). TensorFlow and PyTorch take one
    input gradient per output. JAX maps one vector-Jacobian product over the outputs
    (``jax.vmap``): a traced program of one gradient, not one gradient per output, which
    for a layer with hundreds of outputs is what tracing and compiling it cost.
    """
    x = ops.convert_to_tensor(x)
    n = ops.shape(x)[0]
    if name() != "jax":
        outputs = int(ops.shape(fn(x))[1])
        rows = [input_gradient(lambda t, k=k: fn(t)[:, k], x)[1] for k in range(outputs)]
        return ops.stack(rows, axis=1)
    import jax

    with _child_scope():  # as in input_gradient: state the call assigns stays inside
        y, pullback = jax.vjp(fn, x)
        outputs = y.shape[1]
        basis = ops.broadcast_to(ops.eye(outputs, dtype=y.dtype)[:, None, :], (outputs, n, outputs))
        (rows,) = jax.vmap(pullback)(basis)
    return ops.moveaxis(rows, 0, 1)


def input_gradient(fn, x, *, differentiable: bool = False):
    """``(fn(x), d sum(fn(x)) / dx)``.

    Args:
        fn: maps a tensor ``x`` to a tensor (for example a critic's scores).
        x: the point, a tensor or array.
        differentiable: keep the gradient differentiable in whatever ``fn`` closes over
            (the critic's weights), as a gradient penalty needs. TensorFlow and JAX always
            are, inside an enclosing tape or transform; PyTorch needs ``create_graph``.
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
            total = tf.reduce_sum(y)
        return y, tape.gradient(total, x)
    if backend == "jax":
        import jax

        x = ops.convert_to_tensor(x)
        # A child scope: state the call updates (a power-iteration vector under
        # training=True) would otherwise escape the transform as a leaked tracer.
        with _child_scope():
            def total(xv):
                y = fn(xv)
                return ops.sum(y), y

            (_, y), grad = jax.value_and_grad(total, has_aux=True)(x)
        return y, grad
    import torch

    x = ops.convert_to_tensor(x).detach().requires_grad_(True)
    with torch.enable_grad():
        y = fn(x)
        (grad,) = torch.autograd.grad(y.sum(), x, create_graph=differentiable)
    return y, grad


def value_and_grad(loss_fn, variables):
    """``(loss, aux), grads``: ``loss_fn()`` returns ``(loss, aux)``; grads for ``variables``.

    ``variables`` are Keras variables that ``loss_fn`` reads. State that ``loss_fn``
    assigns (power-iteration vectors, random seeds) is kept, as it would be eagerly. On
    JAX this runs ``loss_fn`` in a stateless scope with the variables' values as the
    arguments of ``jax.value_and_grad``: inside a stateless train step it reads and
    updates that step's state; outside one, the updates are written to the variables.
    """
    backend = name()
    variables = list(variables)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
        return (loss, aux), tape.gradient(loss, variables)
    if backend == "torch":
        import torch

        with torch.enable_grad():
            loss, aux = loss_fn()
            grads = torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True)
        grads = [ops.zeros_like(v.value) if g is None else g for v, g in zip(variables, grads)]
        return (loss, aux), grads
    import jax

    outer = get_stateless_scope()
    base = dict(outer.state_mapping) if outer is not None else {}
    assigned = {}  # id -> variable, for every variable loss_fn assigns

    def scoped(values):
        # Updates go on to the enclosing scope, or to the variables where there is none.
        scope = _RecordingScope(assigned, carries=outer is None or getattr(outer, "carries", False))
        scope.state_mapping = {**base, **{id(v): x for v, x in zip(variables, values)}}
        with scope:
            loss, aux = loss_fn()
        return loss, (aux, {k: scope.state_mapping[k] for k in assigned})

    values = [base[id(v)] if id(v) in base else v.value for v in variables]
    (loss, (aux, updates)), grads = jax.value_and_grad(scoped, has_aux=True)(values)
    # Assignments happen as they would eagerly, differentiated variables included (Keras's
    # SpectralNormalization writes W / sigma into the kernel it wraps during the call).
    for key, value in updates.items():
        if outer is not None:
            outer.add_update((assigned[key], value))
        else:
            assigned[key].assign(value)
    return (loss, aux), grads


def linear_adjoint(forward, x_shape, y, dtype="float32"):
    """``A^T y`` for the linear map ``forward`` on inputs of shape ``x_shape``."""
    backend = name()
    zeros = ops.zeros(x_shape, dtype)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(zeros)
            out = forward(zeros)
        return tape.gradient(out, zeros, output_gradients=y)
    if backend == "jax":
        import jax

        _, pullback = jax.vjp(forward, zeros)
        return pullback(ops.cast(y, dtype))[0]
    import torch

    zeros = zeros.detach().requires_grad_(True)
    with torch.enable_grad():
        out = forward(zeros)
        (grad,) = torch.autograd.grad(out, zeros, grad_outputs=ops.cast(y, dtype))
    return grad


def compile_stateful(fn, variables, *, jit_compile: bool = False, scan: bool = False):
    """``fn`` compiled for repeated calls that read and update Keras ``variables``.

    With ``scan``, the compiled function is called as ``call(per_step, *shared)``:
    ``per_step`` is a tuple of arrays with a leading axis of steps, and ``fn(*slice,
    *shared)`` runs for each slice in turn, the state carried from one to the next, in one
    call; it returns ``fn``'s outputs stacked along that axis. On JAX this is one
    ``lax.scan``, so a whole loop of small steps costs one dispatch and one host round
    trip instead of one per step: what decides the speed of small models on a GPU. On
    JAX's CPU, steps that convolve loop over the compiled step instead, as XLA:CPU runs a
    convolution's gradients many times slower inside a compiled loop (``_slow_in_loops``).
    Other backends loop over the compiled ``fn``.

    TensorFlow traces it once (``tf.function``; with ``jit_compile``, through XLA). JAX
    jits a pure version that takes the variables' values as state inside a stateless
    scope and writes the new values back after each call. PyTorch runs it eagerly. ``fn``
    may call :func:`value_and_grad` and an optimizer's ``apply_gradients``. On JAX,
    variables that ``fn`` assigns but that are not in ``variables`` (a seed generator's
    state) are found by the first trace (which JAX then reuses) and carried too.

    ``jit_compile`` matters on TensorFlow only. Its graph executor is not bit-reproducible
    for some training steps (a WGAN-GP conv critic's double backpropagation gave results
    that differed from run to run by up to 1e-4 when the CPU was busy); XLA's compiled
    code gave the same numbers on every run, as JAX's does.
    """
    backend = name()
    if backend != "jax":
        if backend == "tensorflow":
            import tensorflow as tf

            fn = tf.function(fn, jit_compile=bool(jit_compile))
        return _looped(fn) if scan else fn
    import jax

    variables = list(variables)
    pure = _pure_step(fn, variables, scan=scan)
    jitted = None

    def call(*args):
        nonlocal jitted
        if scan:
            _steps(args[0] if args else ())  # a clear error for an empty loop, as elsewhere
        if jitted is None:
            # State that fn assigns beyond the variables given (a seed generator's state,
            # say) must be carried, or each call would start from the same values. The
            # first trace finds it; JAX keeps that trace for the call, unless state was
            # missing and the step must be traced again with it.
            assigned = {}
            traced = jax.jit(functools.partial(pure, assigned=assigned))
            first = traced.trace([v.value for v in variables], *args)
            known = {id(v) for v in variables}
            missing = [v for k, v in assigned.items() if k not in known]
            if missing:
                variables.extend(missing)
                traced = jax.jit(pure)
            jitted = traced  # only once the check has run: a failed first trace checks again
            if scan and _slow_in_loops(first):
                # XLA:CPU runs the gradients of convolutions inside a compiled loop many
                # times slower than in a step compiled alone: there, loop in Python.
                jitted = _stepwise(jax.jit(_pure_step(fn, variables, scan=False)))
        out, values = jitted([v.value for v in variables], *args)
        for v, x in zip(variables, values):
            v.assign(x)
        return out

    return call


def compile_batched(fn, variables):
    """JAX only: ``fn`` as a pure, jitted function of many runs' state at once.

    ``call(values, per_step, *per_run)`` takes ``values``, one array per variable with a
    leading axis of runs (each run's value of that variable, stacked); ``per_step``, a
    tuple of arrays with axes (runs, steps, ...); and ``per_run``, arrays with a leading
    axis of runs that every step of a run sees (its data set, say). For every run it
    applies ``fn(*step_slice, *run_slice)`` to each step in turn, as
    :func:`compile_stateful` with ``scan`` does for one run; the runs go side by side
    through ``jax.vmap``. It returns ``(outs, values)``: ``fn``'s outputs with axes
    (runs, steps, ...) and the new state, and assigns nothing.

    Many seeds or settings of one small model then cost one dispatch per loop, and on a
    GPU their steps run together: what turns a GPU's width into seeds per verdict. (On a
    CPU, steps that convolve take a dispatch each, as in :func:`compile_stateful`.)
    ``variables`` must hold every variable ``fn`` assigns (a model's ``variables`` hold
    its seed generators' state); a missing one is an error, as its per-run values would
    have nowhere to live.
    """
    if name() != "jax":
        raise RuntimeError(f"compile_batched runs on the JAX backend; this Keras runs on {name()!r}")
    import jax

    variables = list(variables)
    pure = _pure_step(fn, variables, scan=True)
    jitted = None

    def call(values, per_step, *per_run):
        nonlocal jitted
        _steps(per_step, step_axis=1)
        if jitted is None:
            assigned = {}  # filled by the first trace, which JAX keeps for the call
            traced = jax.jit(jax.vmap(functools.partial(pure, assigned=assigned), in_axes=(0, 0) + (0,) * len(per_run)))
            first = traced.trace(list(values), tuple(per_step), *per_run)
            known = {id(v) for v in variables}
            missing = [v.path for k, v in assigned.items() if k not in known]
            if missing:
                raise ValueError(f"the step assigns variables that are not in `variables`: {missing}")
            jitted = traced
            if _slow_in_loops(first):  # as in compile_stateful: a Python loop over the vmapped step
                jitted = _stepwise(jax.jit(jax.vmap(_pure_step(fn, variables, scan=False))), step_axis=1)
        return jitted(list(values), tuple(per_step), *per_run)

    return call


def _pure_step(fn, variables, *, scan: bool):
    """``fn`` as a pure function ``(values, *args) -> (outs, values)`` over ``variables``
    (with ``scan``: ``(values, per_step, *shared)``, a ``lax.scan`` over the steps).

    ``assigned``, where given, collects every variable ``fn`` assigns.
    """
    import jax

    def pure(values, *args, assigned=None):
        scope = _RecordingScope({} if assigned is None else assigned, carries=True)
        scope.state_mapping = {id(v): x for v, x in zip(variables, values)}
        with scope:
            out = fn(*args)
        return out, [scope.state_mapping[id(v)] for v in variables]

    if not scan:
        return pure

    def scanned(values, per_step, *shared, assigned=None):
        def body(carry, sliced):
            out, carry = pure(carry, *sliced, *shared, assigned=assigned)
            return carry, out

        values, outs = jax.lax.scan(body, values, tuple(per_step))
        return outs, values

    return scanned


def _slow_in_loops(traced) -> bool:
    """Whether a traced scan over training steps would run slowly as one compiled loop.

    On a CPU, XLA compiles a convolution's gradients inside a loop body to far slower code
    than the same step compiled alone (measured with JAX 0.10 on 2 cores: a kernel's
    gradient about 75 times, the input's about 5 times; related: jax-ml/jax#12868). There a
    call per step, whose dispatch costs microseconds, is much faster. Accelerators keep
    the loop: there a dispatch per step is what costs.
    """
    import jax

    return jax.default_backend() == "cpu" and _convolves(traced.jaxpr)


def _convolves(jaxpr) -> bool:
    """Whether a jaxpr, or any jaxpr nested in it (a scan's body, a jitted call), convolves."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "conv_general_dilated":
            return True
        for param in eqn.params.values():
            for item in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(item, "jaxpr", item)  # a closed jaxpr holds an open one
                if hasattr(inner, "eqns") and _convolves(inner):
                    return True
    return False


def _steps(per_step, step_axis: int = 0) -> int:
    """The number of steps in ``per_step`` (a tuple of arrays), at least one."""
    if not isinstance(per_step, (tuple, list)) or not per_step:
        raise ValueError("a compiled loop needs per_step, a non-empty tuple of arrays with one slice per step")
    steps = {int(a.shape[step_axis]) for a in per_step}
    if len(steps) > 1 or 0 in steps:
        raise ValueError(f"a compiled loop needs at least one step, and as many in every per_step array; their "
                         f"lengths along axis {step_axis} are {sorted(int(a.shape[step_axis]) for a in per_step)}")
    return steps.pop()


def _stepwise(step, step_axis: int = 0):
    """A scanned pure step (``(values, per_step, *shared) -> (outs, values)``) run as a
    Python loop over the compiled single ``step``; ``per_step``'s steps on ``step_axis``."""
    import jax
    import jax.numpy as jnp

    def call(values, per_step, *shared):
        shared = jax.tree.map(jnp.asarray, shared)  # on the device once, not at every step
        outs = []
        for i in range(per_step[0].shape[step_axis]):  # callers checked the steps (_steps)
            at = (slice(None),) * step_axis + (i,)  # a view of a numpy array: no copy of the whole
            out, values = step(values, *[a[at] for a in per_step], *shared)
            outs.append(out)
        return jax.tree.map(lambda *parts: jnp.stack(parts, axis=step_axis), *outs), values

    return call


def _looped(step):
    """``step`` applied to each slice of the per-step arguments; outputs stacked."""
    def call(per_step, *shared):
        outs = [step(*[a[i] for a in per_step], *shared) for i in range(_steps(per_step))]
        return keras.tree.map_structure(lambda *parts: ops.stack(parts), *outs)

    return call


class _RecordingScope(keras.StatelessScope):
    """A stateless scope that also remembers which variables were assigned.

    ``carries``: every variable assigned in it is carried to the next step (the scopes of
    :func:`compile_stateful` and :func:`compile_batched`, which find such variables in
    their first trace, and scopes nested in them that pass their updates on).
    """

    def __init__(self, assigned: dict, carries: bool = False):
        super().__init__()
        self.assigned = assigned
        self.carries = carries

    def add_update(self, update):
        super().add_update(update)
        self.assigned[id(update[0])] = update[0]


@contextlib.contextmanager
def _child_scope():
    """On JAX: a scope that reads the current state and drops what the call assigns."""
    outer = get_stateless_scope()
    scope = _RecordingScope({})
    scope.state_mapping = dict(outer.state_mapping) if outer is not None else {}
    with scope:
        yield
