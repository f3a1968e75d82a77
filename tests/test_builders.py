"""The network builders (``fpgrad/_builders.py``) with the parameters of model 2.

``tau_syn``, ``bias`` and ``v_reset`` are a number or one value per neuron, ``delay`` a number, one
value per synapse or (random builders) a ``(low, high)`` range drawn from the builder's ``rng``
after every other draw. The defaults are model 1, and a seed gives the networks it gave before
model 2 (pinned digests of ``pre``, ``post`` and ``weight``, taken before the change).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

import fpgrad
from fpgrad import ProblemError
from fpgrad._problem import NEURON_FIELDS


def digest(net: fpgrad.Network) -> str:
    """The first 20 hex digits of the SHA-256 of ``pre``, ``post`` and ``weight`` (little
    endian)."""
    h = hashlib.sha256()
    h.update(net.pre.astype("<i8").tobytes())
    h.update(net.post.astype("<i8").tobytes())
    h.update(net.weight.astype("<f8").tobytes())
    return h.hexdigest()[:20]


RECURRENT_SMALL = dict(input_synapses=2, recurrent_synapses=3, self_loops=False,
                       inhibitory_fraction=0.5)  # fmt: skip
SEED_CASES = [
    ("random_recurrent_network", (5, 7), {}, 0, "17013c28756589083287"),
    ("random_recurrent_network", (5, 7), {}, 1, "e406416bde369dfc1113"),
    ("random_recurrent_network", (3, 4), RECURRENT_SMALL, 0, "d50c2d7af8dedacb35b3"),
    ("random_recurrent_network", (3, 4), RECURRENT_SMALL, 1, "7e33a1e12a88fdf889ab"),
    ("random_feedforward_network", ([4, 6, 3],), {}, 0, "76b344d9279ff1054c02"),
    ("random_feedforward_network", ([4, 6, 3],), {}, 1, "c9d547803b1b5478636c"),
    ("random_feedforward_network", ([2, 3],), dict(weight_mean=[0.1], weight_std=0.2), 0,
     "49c5253d381e56c7e065"),
    ("random_feedforward_network", ([2, 3],), dict(weight_mean=[0.1], weight_std=0.2), 1,
     "5a298c0293c0c7aaac97"),
]  # fmt: skip


@pytest.mark.parametrize(("builder", "args", "kwargs", "seed", "expected"), SEED_CASES)
def test_seeds_give_the_networks_they_gave_before(builder, args, kwargs, seed, expected):
    """Without the new arguments a seed gives bit for bit the arrays of the model-1 builders;
    with every new argument given as a number or a per-neuron list (no random draw) too, and
    with a ``(low, high)`` delay range the synapses and weights are still the same (the delays
    are drawn after everything else)."""
    build = getattr(fpgrad, builder)
    net = build(*args, np.random.default_rng(seed), **kwargs)
    assert digest(net) == expected
    assert net.is_model1 and net.tau_syn.tolist() == [5.0] * net.n_neurons
    for name in ("bias", "v_reset", "t_ref"):
        assert getattr(net, name).tolist() == [0.0] * net.n_neurons, name
    assert net.delay.tolist() == [0.0] * net.n_synapses
    n = net.n_neurons
    model2 = dict(tau_syn=[0.0] * n, bias=0.25, v_reset=[-0.5] * n, delay=1.0)
    assert digest(build(*args, np.random.default_rng(seed), **kwargs, **model2)) == expected
    drawn = build(*args, np.random.default_rng(seed), **kwargs, delay=(0.5, 2.0))
    assert digest(drawn) == expected


@pytest.mark.parametrize("builder", ["random_recurrent_network", "random_feedforward_network"])
def test_delay_range_is_drawn_from_the_rng_after_the_rest(builder):
    """``delay=(low, high)``: one uniform draw per synapse in synapse order, taken from the
    builder's rng after its other draws: exactly ``rng.uniform(low, high, K)`` continuing the
    generator; the same seed gives the same delays."""
    args = (3, 4) if builder == "random_recurrent_network" else ([3, 4, 2],)
    build = getattr(fpgrad, builder)
    rng = np.random.default_rng(5)
    plain = build(*args, rng)
    expected = rng.uniform(0.5, 2.0, size=plain.n_synapses)
    net = build(*args, np.random.default_rng(5), delay=(0.5, 2.0))
    assert net.delay.tobytes() == expected.tobytes()
    assert np.all((net.delay >= 0.5) & (net.delay <= 2.0))
    again = build(*args, np.random.default_rng(5), delay=(0.5, 2.0))
    assert again.delay.tobytes() == net.delay.tobytes()
    fixed = build(*args, np.random.default_rng(5), delay=(1.5, 1.5))
    assert fixed.delay.tolist() == [1.5] * plain.n_synapses
    per_synapse = np.linspace(0.0, 3.0, plain.n_synapses)
    listed = build(*args, np.random.default_rng(5), delay=list(per_synapse))
    assert listed.delay.tolist() == per_synapse.tolist()


def test_feedforward_network_model2_parameters():
    """Numbers broadcast, per-neuron lists go to the neurons in node order, ``tau_syn = 0`` is
    allowed (delta synapses), ``delay`` per synapse follows the synapse order (matrix by matrix,
    C order)."""
    weights = [np.full((2, 3), 0.5), np.full((3, 1), 0.25)]
    net = fpgrad.feedforward_network(
        weights, tau_syn=[5.0, 0.0, 2.5, 0.0], tau_mem=[10.0, math.inf, 20.0, 10.0],
        bias=[0.0, 0.125, 0.0, -0.5], v_reset=-0.25, t_ref=1.0, delay=np.arange(9.0),
    )  # fmt: skip
    assert (net.n_inputs, net.n_neurons, net.n_synapses) == (2, 4, 9)
    assert net.tau_syn.tolist() == [5.0, 0.0, 2.5, 0.0]
    assert net.tau_mem.tolist() == [10.0, math.inf, 20.0, 10.0]
    assert net.bias.tolist() == [0.0, 0.125, 0.0, -0.5]
    assert net.v_reset.tolist() == [-0.25] * 4 and net.t_ref.tolist() == [1.0] * 4
    assert net.delay.tolist() == list(range(9))
    assert net.pre.tolist()[:6] == [0, 0, 0, 1, 1, 1] and net.post.tolist()[6:] == [5, 5, 5]
    assert not net.is_model1
    assert fpgrad.feedforward_network(weights, delay=0.75).delay.tolist() == [0.75] * 9
    for name in (*NEURON_FIELDS, "delay"):
        assert not getattr(net, name).flags.writeable, name


def test_random_builders_pass_neuron_parameters():
    """The random builders hand every neuron parameter on (``random_feedforward_network`` through
    ``**neuron_params``)."""
    ff = fpgrad.random_feedforward_network(
        [2, 3, 2], np.random.default_rng(0), tau_syn=0.0, bias=[0.1] * 5, v_reset=-1.0, t_ref=0.5
    )
    assert ff.tau_syn.tolist() == [0.0] * 5 and ff.bias.tolist() == [0.1] * 5
    assert ff.v_reset.tolist() == [-1.0] * 5 and ff.t_ref.tolist() == [0.5] * 5
    rec = fpgrad.random_recurrent_network(
        2, 3, np.random.default_rng(0), tau_syn=[0.0, 5.0, 1.0], bias=0.05,
        v_reset=[-0.1, 0.0, 0.2], delay=0.5,
    )  # fmt: skip
    assert rec.tau_syn.tolist() == [0.0, 5.0, 1.0] and rec.bias.tolist() == [0.05] * 3
    assert rec.v_reset.tolist() == [-0.1, 0.0, 0.2] and rec.delay.tolist() == [0.5] * 60


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delay": (1.0, 0.5)}, "delay = (1.0, 0.5): need finite 0 <= low <= high (ms)"),
        ({"delay": (-1.0, 0.5)}, "delay = (-1.0, 0.5): need finite 0 <= low <= high"),
        ({"delay": (0.0, math.inf)}, "delay = (0.0, inf): need finite 0 <= low <= high"),
        ({"delay": (math.nan, 1.0)}, "delay = (nan, 1.0): need finite"),
        ({"delay": (0.0, 1.0, 2.0)}, "delay: a tuple is a (low, high) range, got 3 values"),
        ({"delay": ("a", 1.0)}, "delay = ('a', 1.0): a (low, high) range needs two numbers"),
        ({"delay": [0.0, 1.0]}, "synapses.delay: expected a number or a list of length 60"),
        ({"delay": -1.0}, "synapses.delay[0] = -1.0 must be >= 0"),
        ({"tau_syn": -1.0}, "neurons.tau_syn[0] = -1.0 must be >= 0"),
        ({"tau_syn": [5.0, 5.0]}, "neurons.tau_syn: expected a number or a list of length 3"),
        ({"bias": [0.0, math.nan, 0.0]}, "neurons.bias[1] = nan is not finite"),
        ({"v_reset": [0.0, 0.0, 1.0]}, "neurons.v_reset[2] = 1.0 must be below the threshold"),
    ],
)
def test_builders_reject_bad_model2_parameters(kwargs, message):
    """A bad parameter: a ``ProblemError`` naming it (the network's own checks, or the range)."""
    with pytest.raises(ProblemError) as err:
        fpgrad.random_recurrent_network(2, 3, np.random.default_rng(0), **kwargs)
    assert str(err.value).startswith(message), str(err.value)
    if "tau_syn" not in kwargs and not isinstance(kwargs.get("delay"), tuple):
        with pytest.raises(ProblemError, match=message.split(":")[0].replace("[", r"\[")):
            fpgrad.feedforward_network([np.ones((2, 3))], **kwargs)
