"""fpgrad inside JAX: exact spiking layers under ``jit``, ``grad``, ``jvp`` and ``vmap``.

``import fpgrad.jax`` (the ``jax`` extra; ``import fpgrad`` alone never imports JAX)::

    f = fpgrad.jax.spike_fn(network, t_max=30.0, max_spikes=4)
    p = fpgrad.jax.params(network)                # {group: float64 array}, model 2's groups
    times = f(p, input_times)                     # (n_neurons, max_spikes), +inf padded
    grads = jax.grad(lambda p: loss(f(p, x), y))(p)

Contract. ``input_times`` ``(n_inputs, L)`` holds each input's spike times padded with ``+inf``;
the output holds each neuron's spike times in order (node-id order of the neurons), padded with
``+inf``. Padded entries have zero derivative (an input at ``+inf`` is no spike; a padded output
is no spike). A neuron firing more than ``max_spikes`` times fails the call
(:class:`SpikeOverflowError`, inside ``jit`` a ``JaxRuntimeError`` with its message) unless
``overflow="truncate"``: then its first ``max_spikes`` spikes are kept and
``SpikeInfo.n_spikes`` (``with_info=True``) counts them all. Results are float64 whatever the
dtype of the parameters or inputs (float32, bfloat16 and integers are cast up; the derivative
with respect to a float32 parameter comes back as float32, JAX's rule); JAX's float64 mode must
be on (``jax_enable_x64``, or ``with jax.enable_x64(True):``; else a clear ``RuntimeError``),
and strict dtype promotion is fine.

Transformations and what they cost (``E``: synaptic events of one sample, ``B``: samples):

* the call (``jit`` or not): one simulation per sample, ``O(E)``; under ``jit`` one host
  callback (``jax.pure_callback``) per call.
* ``jax.grad`` / ``jax.vjp``: the simulation (its record kept for the backward pass, about
  ``40 E`` bytes) and one reverse pass, ``O(E)`` whatever the number of parameters; the
  parameter groups that are not differentiated are not computed (time constants and bias cost
  about a third more). No Jacobian is formed.
* ``jax.jvp``: the simulation and one forward-mode pass with one tangent column,
  ``O(E)``; ``jax.jacfwd`` (``vmap`` of ``jvp``): one pass with one column per parameter, the
  Jacobian it asks for, ``O(E P)`` time and ``O(N P)`` memory plus the output;
  ``jax.jacrev``: one reverse pass per output entry that is a spike.
* ``jax.vmap`` over ``input_times`` and/or ``params`` (and any nesting with ``jacfwd`` /
  ``jacrev``): one callback for the whole batch, its samples split over threads (every core,
  ``n_threads``); gradients of shared parameters are summed inside the engine.
* second derivatives: not implemented (``NotImplementedError``).

A JVP or VJP reuses the records of the simulation that preceded it (a small cache keyed by the
operands' content, each entry used once, :data:`~fpgrad.jax._host.CACHE_ENTRIES` calls); a
miss, e.g. a linearized function applied twice, simulates again with the same result.
:func:`callback_counts` counts the host calls.

Degeneracy: ``with_info=True`` returns ``(times, SpikeInfo)`` with the margins of
:class:`fpgrad.Degeneracy` per call (per sample under ``vmap``): ``min_peak_gap`` (a spike about
to appear), ``min_crossing_slope`` (one about to vanish) and where; ``SpikeInfo.is_degenerate``.

Losses (:mod:`fpgrad.jax._losses`): :func:`cross_entropy`, :func:`mse`, :func:`van_rossum`,
:func:`spike_count` build ``loss(times, target)`` from a spike function and the loss's neurons,
the formulas of :mod:`fpgrad.losses`.
"""

from __future__ import annotations

from ._api import SpikeFunction as SpikeFunction
from ._api import SpikeInfo as SpikeInfo
from ._api import pad_batch as pad_batch
from ._api import pad_inputs as pad_inputs
from ._api import params as params
from ._api import spike_fn as spike_fn
from ._host import PARAM_GROUPS as PARAM_GROUPS
from ._host import SpikeOverflowError as SpikeOverflowError
from ._host import callback_counts as callback_counts
from ._losses import cross_entropy as cross_entropy
from ._losses import first_spike_times as first_spike_times
from ._losses import mse as mse
from ._losses import spike_count as spike_count
from ._losses import van_rossum as van_rossum

__all__ = [
    "PARAM_GROUPS",
    "SpikeFunction",
    "SpikeInfo",
    "SpikeOverflowError",
    "callback_counts",
    "cross_entropy",
    "first_spike_times",
    "mse",
    "pad_batch",
    "pad_inputs",
    "params",
    "spike_count",
    "spike_fn",
    "van_rossum",
]
