"""The training loop: minibatches, an optax optimizer, per-epoch metrics, checkpoints, resume.

One step: shuffle (per epoch, from the run's own ``numpy`` generator), evaluate the minibatch's
first-spike cross-entropy and its mean gradient with the method object (any
:class:`fpgrad.GradientMethod`, through its batch entry :meth:`~fpgrad.GradientMethod.batch`:
:class:`fpgrad.ExactReverse` runs a fused Numba loop, ``fpgrad.discrete.Surrogate`` one compiled
``vmap``), apply the optax update
(parameters and the optimizer state are float64: the optimizer runs in JAX's x64 mode, scoped to
its calls, so a run does not depend on the caller's ``jax_enable_x64``), project the
parameters back into their domain (below), then revive silent neurons (below). After every epoch the
validation split is evaluated, metrics are appended to ``metrics.csv`` / ``metrics.json`` and a
checkpoint is written (``checkpoint.npz``, and ``best.npz`` for the best validation accuracy).

Learned parameters (``TrainConfig.learn``): any of :data:`~fpgrad.train.LEARNABLE` (``weight``,
``threshold``, ``tau_mem``, ``tau_syn``, ``delay``, ``bias``, ``v_reset``, ``t_ref``; default
``weight``), one optax state over all of them (one learning rate: Adam's steps are about ``lr``
in each parameter's own unit, ms for the delays and time constants). The groups not learned
keep the classifier's constants (or the delays drawn at initialisation). Each step asks the
method for the gradients of ``weight``, ``threshold`` and the learned groups (``sample_clip``
clips their joint norm). ``fpgrad.discrete.Surrogate`` cannot learn ``delay`` or ``t_ref``: on
its grid they are whole steps, whose gradient is 0 (:func:`check_learn` refuses them).

Projection. After every update each learned group is projected back into its domain:
``delay >= 0`` and ``t_ref >= 0`` (clipped at 0); ``tau_mem >= MIN_TIME_CONSTANT`` and
``tau_syn >= MIN_TIME_CONSTANT`` (1e-3 ms), except that a delta-synapse neuron (``tau_syn = 0``)
keeps ``tau_syn = 0`` (a kind of synapse, not a time constant: its gradient is reported as 0 and
the value is never moved; with the classifier's ``tau_syn = 0`` learning ``tau_syn`` is refused);
``threshold >= MIN_THRESHOLD`` (0.05) and then ``v_reset <= threshold - RESET_MARGIN`` (0.01),
the threshold clipped first: if only the threshold is learned it is kept at least
``RESET_MARGIN`` above the (fixed) reset value, if only ``v_reset`` it is clipped below the
(fixed) threshold. ``weight`` and ``bias`` are unconstrained. The projection is the Euclidean one
on each box constraint; it is applied to the optimizer's iterate (the average below is a convex
combination of projected iterates, so it stays in the domain too).

Parameter averaging (``TrainConfig.ema``, Polyak averaging with an exponential window): after
step ``k`` (counted from 0 over the whole run) ``avg <- d_k avg + (1 - d_k) params`` with
``d_k = min(ema, (1 + k) / (10 + k))``, the warm-up of TensorFlow's ``ExponentialMovingAverage``
(``num_updates``): the average follows the iterate closely at first, so that it does not drag the
initial parameters along in short runs, and averages over ``1 / (1 - ema)`` steps once ``k``
exceeds about ``9 ema / (1 - ema)``. The averaged parameters are the model:
they are validated, tested, saved as ``best.npz`` and returned, while the optimizer goes on from
its own iterate. On Yin-Yang the iterate's validation accuracy still jumps by about a percent
from epoch to epoch late in training (minibatch noise through sharp spike-time decisions); the
average removes most of that (README, "Training").

Silent neurons. A neuron that never fires gets no exact gradient (its spike does not exist), so
it can stay silent forever. Remedy, after Göltz et al. (2021)'s "weight bumping": after each
step, an output neuron that stayed silent on samples of its own class gets ``bump * f / n_in``
added to every incoming weight (``f`` is the fraction of the batch's samples of that class on
which it was silent, ``n_in`` its fan-in), and a hidden neuron silent on the whole minibatch gets
``bump_hidden / n_in`` on every incoming weight: the bumps are increases of the neuron's summed
input weight, so the kick does not grow with the layer size. ``0`` turns either off; bumping
acts on the weights, so only when they are learned. Both are
needed in practice: without output bumping every output falls silent within an epoch (the
cross-entropy pushes each output later on the samples of the other classes), and without hidden
bumping the single-spike hidden layer dies progressively (a third of it within 12 digits
epochs) and accuracy collapses to chance.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from .._gradient import check_method
from .._method import GradientMethod, check_distributable
from ..data import Dataset
from ..discrete._method import float64
from ..losses import FirstSpikeCrossEntropy
from ._checkpoint import load_checkpoint, restore_opt_state, save_checkpoint
from ._metrics import MetricsLog
from ._model import LEARNABLE, Classifier, Params, init_params

if TYPE_CHECKING:
    import optax
    from distributed import Client

__all__ = [
    "EvalResult",
    "TrainConfig",
    "TrainResult",
    "check_learn",
    "evaluate",
    "learnable_by",
    "make_optimizer",
    "project",
    "train",
]

MIN_THRESHOLD = 0.05
"""Trained thresholds are clipped to at least this value (a threshold must stay > 0)."""

MIN_TIME_CONSTANT = 1e-3
"""Learned ``tau_mem`` and ``tau_syn`` (of current synapses) are clipped to at least this (ms)."""

RESET_MARGIN = 0.01
"""A learned ``v_reset`` stays at least this far below the threshold (and a learned threshold
this far above a fixed reset value)."""

#: The groups ``fpgrad.discrete.Surrogate`` reports as zeros (whole grid steps, docs/model.md §4):
#: a surrogate run cannot learn them.
SURROGATE_ZERO_GROUPS = ("delay", "t_ref")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of a run (all stored in checkpoints and ``metrics.json``).

    The defaults are those measured on Yin-Yang (5-120-3, one spike per neuron: ``t_ref = 1000``
    ms is longer than any trial), see the training notes in the package docstring.

    Attributes:
        hidden: hidden layer sizes.
        epochs: total number of epochs (a resumed run continues up to this number).
        batch_size: minibatch size.
        lr: Adam learning rate (initial).
        lr_decay: multiplicative learning-rate decay per epoch (1 = constant).
        delay_lr: learning rate of the delays when they are learned (initial, decayed like
            ``lr``; ``0``: ``lr``). Adam's steps are about the learning rate in each parameter's
            own unit, ms for delays: ``lr = 2e-3`` moves a delay by 0.2 ms in 100 steps, far too
            little to reshape delays drawn over tens of ms (MNIST-1D task: ``delay_lr = 0.2``).
        optimizer: ``"adam"`` (default), ``"adamw"`` or ``"sgd"`` (optax).
        learn: the parameter groups to learn, any of :data:`~fpgrad.train.LEARNABLE` (a tuple,
            or one comma-separated string); stored in :data:`~fpgrad.train.LEARNABLE` order.
            Default: the weights only. Projection onto each group's domain: module docstring.
        train_threshold: also learn the thresholds (the same as ``"threshold"`` in ``learn``;
            kept for older configs; always equal to ``"threshold" in learn`` after
            construction).
        seed: seeds initialisation and shuffling.
        tau_syn, tau_mem, t_ref, t_max: neuron constants and horizon (ms); see
            :class:`~fpgrad.train.Classifier` (``tau_syn = 0``: delta synapses).
        bias, v_reset: model 2's constant input current and reset value of every neuron (the
            initial values when learned; ``v_reset`` below the initial threshold 1).
        delay: ``(low, high)`` in ms: initial delays drawn uniformly per synapse (after the
            weights, from the run's generator); ``low == high`` gives every synapse that delay.
        init_gain, init_spread: weight initialisation per layer (see
            :func:`~fpgrad.train.init_params`); ``None`` for the defaults.
        bump, bump_hidden: summed-weight increments for silent output / hidden neurons
            (module docstring).
        clip: clip each minibatch gradient to this global norm (0 = no clipping).
        sample_clip: clip each *sample's* gradient to this norm before averaging (0 = off).
            Exact first-spike gradients are heavy-tailed (``df/dp ~ 1/Vdot`` near a grazing
            crossing: on Yin-Yang the largest per-sample norm is ~100x the median), so one
            sample can dominate a minibatch; clipping per sample bounds its influence.
        ema: per-step decay of the exponential moving average of the parameters that is
            evaluated and returned (module docstring); 0 = no averaging.
        tau0, tau1, alpha: the loss constants of :class:`fpgrad.FirstSpikeCrossEntropy`.
    """

    hidden: tuple[int, ...] = (120,)
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    lr_decay: float = 0.95
    delay_lr: float = 0.0
    optimizer: str = "adam"
    learn: tuple[str, ...] = ("weight",)
    train_threshold: bool = False
    seed: int = 0
    tau_syn: float = 5.0
    tau_mem: float = 10.0
    t_ref: float = 1000.0
    t_max: float = 30.0
    bias: float = 0.0
    v_reset: float = 0.0
    delay: tuple[float, float] = (0.0, 0.0)
    init_gain: tuple[float, ...] | None = None
    init_spread: tuple[float, ...] | None = None
    bump: float = 0.5
    bump_hidden: float = 0.5
    clip: float = 0.0
    sample_clip: float = 0.0
    ema: float = 0.0
    # the loss constants default to FirstSpikeCrossEntropy's own (defined there only)
    tau0: float = FirstSpikeCrossEntropy.tau0
    tau1: float = FirstSpikeCrossEntropy.tau1
    alpha: float = FirstSpikeCrossEntropy.alpha

    def __post_init__(self) -> None:
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema: expected a decay in [0, 1), got {self.ema!r}")
        learn = _learn_names(self.learn)
        if self.train_threshold:
            learn.append("threshold")
        learn_t = tuple(name for name in LEARNABLE if name in learn)
        if not learn_t:
            raise ValueError(f"learn: nothing to learn; choose from {', '.join(LEARNABLE)}")
        object.__setattr__(self, "learn", learn_t)
        object.__setattr__(self, "train_threshold", "threshold" in learn_t)
        if "tau_syn" in learn_t and self.tau_syn == 0:
            raise ValueError(
                "learn: tau_syn cannot be learned with tau_syn = 0 (delta synapses are a kind of "
                "synapse, not a time constant)"
            )
        delay = self.delay
        if isinstance(delay, int | float) and not isinstance(delay, bool):
            delay = (delay, delay)
        try:
            low, high = (float(x) for x in delay)
        except (TypeError, ValueError):
            raise ValueError(f"delay: expected (low, high) in ms, got {self.delay!r}") from None
        if not 0.0 <= low <= high < float("inf"):
            raise ValueError(f"delay: expected finite 0 <= low <= high (ms), got {self.delay!r}")
        object.__setattr__(self, "delay", (low, high))
        if not (np.isfinite(self.delay_lr) and self.delay_lr >= 0.0):
            raise ValueError(
                f"delay_lr: expected a finite rate >= 0 (0: lr), got {self.delay_lr!r}"
            )
        if not float(self.v_reset) <= 1.0 - RESET_MARGIN:
            raise ValueError(
                f"v_reset: {self.v_reset!r} must lie below the initial threshold 1 (by at least "
                f"{RESET_MARGIN})"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        for key in ("hidden", "init_gain", "init_spread", "learn", "delay"):
            value = kwargs.get(key)
            if value is not None and not isinstance(value, str | int | float):
                kwargs[key] = tuple(value)  # JSON lists (a "w,d" string or a number stays)
        return cls(**kwargs)

    def losses(self, model: Classifier, labels: NDArray[np.int64]) -> list[FirstSpikeCrossEntropy]:
        """The loss of each sample: first-spike cross-entropy over ``model``'s outputs."""
        outputs = tuple(int(o) for o in model.outputs)
        return [
            FirstSpikeCrossEntropy(outputs, int(y), self.tau0, self.tau1, self.alpha)
            for y in labels
        ]


@dataclass(frozen=True, eq=False)
class EvalResult:
    """Mean loss, accuracy, and silence statistics of one split."""

    loss: float
    accuracy: float
    silent_label_fraction: float
    silent_hidden_fraction: float
    pred: NDArray[np.int64] = field(repr=False)


@dataclass(frozen=True, eq=False)
class TrainResult:
    """The trained parameters, the model, and one metrics dict per epoch.

    ``test`` evaluates the final parameters; ``test_best`` those of the epoch with the best
    validation accuracy (model selection on the validation split; ``best_epoch``), the number
    reported in the README.
    """

    model: Classifier
    params: Params
    history: list[dict[str, Any]]
    test: EvalResult | None
    test_best: EvalResult | None = None
    best_epoch: int | None = None


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """The optax optimizer of ``config``, with a staircase per-epoch exponential lr decay.

    It updates a dict ``{group: array}``; with ``config.delay_lr > 0`` the update of
    ``"delay"`` is multiplied by ``delay_lr / lr`` after the optimizer (for Adam and SGD alike
    that is the learning rate ``delay_lr``, decayed on the same schedule).
    """
    import optax  # the [train] extra; imported here so that ``import fpgrad.train`` stays light

    schedule: Any = config.lr
    if config.lr_decay != 1.0:
        schedule = optax.exponential_decay(
            config.lr,
            transition_steps=max(1, steps_per_epoch),
            decay_rate=config.lr_decay,
            staircase=True,
        )
    makers = {"adam": optax.adam, "adamw": optax.adamw, "sgd": optax.sgd}
    if config.optimizer not in makers:
        raise ValueError(f"optimizer: expected one of {sorted(makers)}, got {config.optimizer!r}")
    base = makers[config.optimizer](schedule)
    if config.delay_lr > 0 and config.delay_lr != config.lr:
        ratio = config.delay_lr / config.lr
        base = optax.chain(
            base,
            optax.stateless(
                lambda updates, _params: {
                    k: u * ratio if k == "delay" else u for k, u in updates.items()
                }
            ),
        )
    if config.clip > 0:
        return optax.chain(optax.clip_by_global_norm(config.clip), base)
    return base


def _learn_names(learn: Any) -> list[str]:
    """``learn`` as a list of names (a comma-separated string is split); an unknown name raises
    one :class:`ValueError` listing the valid ones."""
    if isinstance(learn, str):
        names = [x.strip() for x in learn.split(",") if x.strip()]
    else:
        try:
            names = list(learn)
        except TypeError:
            raise ValueError(f"learn: expected parameter names, got {learn!r}") from None
    for name in names:
        if name not in LEARNABLE:
            raise ValueError(
                f"learn: unknown parameter {name!r}; valid ones: {', '.join(LEARNABLE)}"
            )
    return names


def check_learn(config: TrainConfig, method: GradientMethod) -> None:
    """Refuse groups ``method`` cannot differentiate: ``delay`` and ``t_ref`` for a surrogate
    method (whole grid steps; :data:`SURROGATE_ZERO_GROUPS`). Raises :class:`ValueError`."""
    bad = _unlearnable(config, method)
    if bad:
        raise ValueError(
            f"learn: the surrogate method cannot learn {', '.join(bad)} (whole steps on its time "
            "grid, gradient 0); use --method exact (ExactReverse)"
        )


def learnable_by(
    config: TrainConfig, method: GradientMethod
) -> tuple[TrainConfig, tuple[str, ...]]:
    """``config`` with the groups ``method`` cannot learn (for a surrogate method
    :data:`SURROGATE_ZERO_GROUPS`: whole grid steps, gradient 0) kept at their initial values,
    and the names of those groups (what :func:`check_learn` refuses).

    A task default that learns delays (Yin-Yang, MNIST-1D) trains the *same* network with a
    surrogate method this way: the delays drawn at initialisation stay fixed. For an exact
    method ``config`` comes back unchanged and the tuple is empty.
    """
    fixed = _unlearnable(config, method)
    if not fixed:
        return config, ()
    kept = tuple(name for name in config.learn if name not in fixed)
    return dataclasses.replace(config, learn=kept), fixed


def _unlearnable(config: TrainConfig, method: GradientMethod) -> tuple[str, ...]:
    """The groups of ``config.learn`` that ``method`` cannot learn."""
    if method.kind != "surrogate":
        return ()
    return tuple(name for name in config.learn if name in SURROGATE_ZERO_GROUPS)


def _gradient_groups(config: TrainConfig) -> tuple[str, ...]:
    """The groups a training step asks the method for: weight, threshold and the learned ones."""
    wanted = {"weight", "threshold", *config.learn}
    return tuple(name for name in LEARNABLE if name in wanted)


def project(
    params: Params, model: Classifier, learn: tuple[str, ...], previous: Params | None = None
) -> Params:
    """``params`` with every learned group projected into its domain (module docstring).

    ``previous`` (the parameters before the update) marks the delta-synapse neurons: those with
    ``tau_syn = 0`` there keep ``tau_syn = 0``; without it, those at 0 now.
    """
    out: dict[str, NDArray[np.float64]] = {}
    threshold = params.threshold
    if "threshold" in learn:
        threshold = np.maximum(threshold, MIN_THRESHOLD)
        if "v_reset" not in learn:
            threshold = np.maximum(threshold, params.value("v_reset", model) + RESET_MARGIN)
        out["threshold"] = threshold
    if "v_reset" in learn:
        out["v_reset"] = np.minimum(params.value("v_reset", model), threshold - RESET_MARGIN)
    if "tau_mem" in learn:
        out["tau_mem"] = np.maximum(params.value("tau_mem", model), MIN_TIME_CONSTANT)
    if "tau_syn" in learn:
        tau_syn = params.value("tau_syn", model)
        delta = (previous if previous is not None else params).value("tau_syn", model) == 0
        out["tau_syn"] = np.where(delta, 0.0, np.maximum(tau_syn, MIN_TIME_CONSTANT))
    for name in ("delay", "t_ref"):
        if name in learn:
            out[name] = np.maximum(params.value(name, model), 0.0)
    return params.replace(**out)


def _model_for(config: TrainConfig, n_inputs: int, n_classes: int) -> Classifier:
    return Classifier(
        sizes=(n_inputs, *config.hidden, n_classes),
        tau_syn=config.tau_syn,
        tau_mem=config.tau_mem,
        t_ref=config.t_ref,
        t_max=config.t_max,
        bias=config.bias,
        v_reset=config.v_reset,
        delay=config.delay[0],
    )


def _init_for(config: TrainConfig, model: Classifier, rng: np.random.Generator) -> Params:
    """The initial parameters of ``config``'s run: weights, then the delays it draws."""
    return init_params(
        model, rng, gain=config.init_gain, spread=config.init_spread, delay=config.delay
    )


def _predict(model: Classifier, first_spike_time: NDArray[np.float64]) -> NDArray[np.int64]:
    """The class whose output fires first (ties and all silent: the lowest class)."""
    return np.argmin(first_spike_time[:, model.outputs - model.n_inputs], axis=1).astype(np.int64)


def evaluate(
    method: GradientMethod,
    model: Classifier,
    params: Params,
    data: Any,
    labels: NDArray[np.int64],
    config: TrainConfig,
    *,
    batch_size: int = 500,
    n_threads: int | None = 2,
    client: Client | str | None = None,
) -> EvalResult:
    """Loss and accuracy of ``params`` on a prepared split (``method.prepare`` output), the loss
    constants taken from ``config`` (on a Dask cluster with ``client``, the same numbers)."""
    n = labels.shape[0]
    network = model.network(params)
    losses, preds, silent_label, fired_any = [], [], [], np.zeros(model.n_neurons, bool)
    out_index = model.outputs - model.n_inputs
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(n, start + batch_size))
        res = method.batch(
            network, data.subset(idx), model.t_max, config.losses(model, labels[idx]),
            params=(), n_threads=n_threads, client=client,
        )  # fmt: skip
        losses.append(res.losses)
        preds.append(_predict(model, res.first_spike_time))
        fired = res.fired
        fired_any |= fired.any(axis=0)
        silent_label.append(~fired[np.arange(idx.size), out_index[labels[idx]]])
    pred = np.concatenate(preds)
    n_hidden = model.n_neurons - model.sizes[-1]
    return EvalResult(
        loss=float(np.mean(np.concatenate(losses))),
        accuracy=float(np.mean(pred == labels)),
        silent_label_fraction=float(np.mean(np.concatenate(silent_label))),
        silent_hidden_fraction=float(np.mean(~fired_any[:n_hidden])) if n_hidden else 0.0,
        pred=pred,
    )


def _bump_silent(
    model: Classifier,
    params: Params,
    fired: NDArray[np.bool_],
    labels: NDArray[np.int64],
    post: NDArray[np.int64],
    bump: float,
    bump_hidden: float,
) -> tuple[Params, int]:
    """Göltz-style weight bumping (module docstring); returns the new params and the number of
    neurons bumped."""
    fan_in = np.concatenate([np.full(n_post, float(n_pre)) for n_pre, n_post in model.shapes])
    per_neuron = np.zeros(model.n_neurons)
    n_out = model.sizes[-1]
    out_index = model.outputs - model.n_inputs
    for c in range(n_out):
        mine = labels == c
        if mine.any():
            per_neuron[out_index[c]] = bump * float(np.mean(~fired[mine, out_index[c]]))
    hidden_silent = ~fired[:, : model.n_neurons - n_out].any(axis=0)
    per_neuron[: model.n_neurons - n_out][hidden_silent] = bump_hidden
    if not per_neuron.any():
        return params, 0
    return (
        params.replace(weight=params.weight + (per_neuron / fan_in)[post]),
        int(np.count_nonzero(per_neuron)),
    )


def _average(
    averaged: Params, params: Params, ema: float, step: int, learn: tuple[str, ...]
) -> Params:
    """The running average after step ``step`` (module docstring; ``params`` if ``ema = 0``):
    of the weights, thresholds and learned groups; the other groups are ``params``'."""
    decay = min(ema, (1.0 + step) / (10.0 + step))
    if decay <= 0.0:
        return params
    names = [name for name in params.arrays() if name in ("weight", "threshold", *learn)]
    return params.replace(
        **{
            name: decay * getattr(averaged, name) + (1.0 - decay) * getattr(params, name)
            for name in names
        }
    )


def train(
    config: TrainConfig,
    train_set: Dataset,
    val_set: Dataset | None = None,
    test_set: Dataset | None = None,
    *,
    method: GradientMethod | None = None,
    n_threads: int | None = 2,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    encode: Callable[[Dataset], list] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    client: Client | str | None = None,
) -> TrainResult:
    """Train a feedforward LIF classifier on first-spike times with exact (or other) gradients.

    Args:
        config: hyperparameters (with ``resume``, the checkpoint's config is used instead, except
            for ``epochs``).
        train_set, val_set, test_set: the splits (``test_set`` is evaluated once at the end).
        method: a :class:`fpgrad.GradientMethod`; default :class:`fpgrad.ExactReverse`
            (``fpgrad.discrete.Surrogate`` for surrogate-gradient BPTT on the time grid;
            it cannot learn ``delay`` or ``t_ref``: :func:`check_learn`).
        n_threads: threads of the exact kernels (default 2).
        out_dir: folder for ``metrics.csv``, ``metrics.json``, ``checkpoint.npz``, ``best.npz``
            (nothing is written when ``None``).
        resume: a checkpoint to continue from (its epoch, parameters, optimizer and RNG state).
        encode: ``Dataset -> inputs[s][j]`` (default ``Dataset.encode()``).
        progress: show a tqdm progress bar per epoch.
        log: called with one line per epoch (e.g. ``print``).
        client: a ``dask.distributed.Client`` or a scheduler address (``fpgrad train
            --scheduler``): data-parallel training, each minibatch's samples computed in chunks
            on the cluster's workers, the mean gradient reduced here and the step taken here.
            The iterates equal the in-process run's with the same ``n_threads`` bit for bit
            (:mod:`fpgrad._distributed`); validation and test batches run there too.
    """
    import jax
    import jax.numpy as jnp

    method = check_method(method)
    if client is not None:
        from .._distributed import get_client

        check_distributable(method)
        client = get_client(client)  # connect (or fail) once, before any work
    encode = (lambda ds: ds.encode()) if encode is None else encode
    n_inputs = len(encode(train_set.subset([0]))[0])
    ckpt = (
        load_checkpoint(resume, n_inputs=n_inputs, n_classes=train_set.n_classes)
        if resume is not None
        else None
    )
    if ckpt is not None:
        config = dataclasses.replace(TrainConfig.from_dict(ckpt.config), epochs=config.epochs)
    check_learn(config, method)
    model = _model_for(config, n_inputs, train_set.n_classes)
    n_train = len(train_set)
    steps_per_epoch = -(-n_train // config.batch_size)
    optimizer = make_optimizer(config, steps_per_epoch)
    rng = np.random.default_rng(config.seed)
    params = _init_for(config, model, rng)
    trained = list(config.learn)
    params = params.holding(trained, model)
    fetch = _gradient_groups(config)

    def tree(p: Params) -> dict[str, Any]:
        return {name: jnp.asarray(getattr(p, name)) for name in trained}

    with float64():
        opt_state = optimizer.init(tree(params))
    start_epoch = 0
    if ckpt is not None:
        params = ckpt.params if ckpt.train_params is None else ckpt.train_params
        with float64():
            opt_state = restore_opt_state(opt_state, ckpt.opt_leaves)
        rng.bit_generator.state = ckpt.rng_state
        start_epoch = ckpt.epoch
    # The evaluated parameters: the running average with ``ema > 0``, else the iterate itself.
    averaged = ckpt.params if ckpt is not None else params

    @jax.jit
    def update(grads: dict, state: Any, current: dict) -> tuple[dict, Any]:
        return optimizer.update(grads, state, current)

    train_data = method.prepare(encode(train_set))
    val_data = method.prepare(encode(val_set)) if val_set is not None else None
    post = model.post_of_synapse
    metrics = (
        MetricsLog(out_dir, {**config.to_dict(), "method": method.name}, start_epoch)
        if out_dir is not None
        else None
    )
    history: list[dict[str, Any]] = list(metrics.rows) if metrics is not None else []
    best = max((r.get("val_acc", -1.0) for r in history), default=-1.0)
    best_params, best_epoch = None, None
    if ckpt is not None and out_dir is not None and (Path(out_dir) / "best.npz").exists():
        best_ckpt = load_checkpoint(
            Path(out_dir) / "best.npz", n_inputs=n_inputs, n_classes=train_set.n_classes
        )
        best_params, best_epoch = best_ckpt.params, best_ckpt.epoch
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n_train)
        loss_sum, correct, seen, bumped = 0.0, 0, 0, 0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not progress,
            leave=False,
        )
        for step in bar:
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            res = method.batch(
                model.network(params), train_data.subset(idx), model.t_max,
                config.losses(model, train_set.y[idx]), params=fetch,
                sample_clip=config.sample_clip, n_threads=n_threads, client=client,
            )  # fmt: skip
            grads = {k: getattr(res.grad, k) for k in trained}
            # optax mixes int32 step counts with floats: standard promotion whatever the caller's
            # jax_numpy_dtype_promotion (fpgrad's own JAX code passes the strict mode's tests)
            # and float64 (the exact gradient is not rounded to float32 before the step)
            with jax.numpy_dtype_promotion("standard"), float64():
                updates, opt_state = update(
                    {k: jnp.asarray(grads[k]) for k in trained}, opt_state, tree(params)
                )
            new = {k: getattr(params, k) + np.asarray(updates[k], np.float64) for k in trained}
            params = project(params.replace(**new), model, config.learn, previous=params)
            if "weight" in config.learn and (config.bump > 0 or config.bump_hidden > 0):
                params, n_b = _bump_silent(
                    model,
                    params,
                    res.fired,
                    train_set.y[idx],
                    post,
                    config.bump,
                    config.bump_hidden,
                )
                bumped += n_b
            averaged = _average(
                averaged, params, config.ema, epoch * steps_per_epoch + step, config.learn
            )
            loss_sum += float(res.losses.sum())
            correct += int(np.sum(_predict(model, res.first_spike_time) == train_set.y[idx]))
            seen += idx.size
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
        bar.close()
        train_time = time.perf_counter() - t0
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen,
            "train_acc": correct / seen,
            "epoch_time_s": train_time,
            "bumped_neurons": bumped,
        }
        if val_data is not None and val_set is not None:
            t1 = time.perf_counter()
            ev = evaluate(
                method, model, averaged, val_data, val_set.y, config, n_threads=n_threads,
                client=client,
            )  # fmt: skip
            row.update(
                val_loss=ev.loss,
                val_acc=ev.accuracy,
                val_silent_label=ev.silent_label_fraction,
                silent_hidden=ev.silent_hidden_fraction,
                eval_time_s=time.perf_counter() - t1,
            )
        history.append(row)
        if val_data is not None and row["val_acc"] > best:
            best, best_params, best_epoch = row["val_acc"], averaged, epoch + 1
            improved = True
        else:
            improved = False
        if metrics is not None:
            metrics.append(row)
            weights = averaged.matrices(model)
            cfg = {**config.to_dict(), "method": method.name}
            state = (opt_state, epoch + 1, rng, cfg, params if config.ema > 0 else None)
            save_checkpoint(Path(out_dir) / "checkpoint.npz", averaged, weights, *state)
            if improved:
                save_checkpoint(Path(out_dir) / "best.npz", averaged, weights, *state)
        if log is not None:
            log(
                " ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                )
            )
    test = test_best = None
    if test_set is not None:
        test_data = method.prepare(encode(test_set))
        test = evaluate(
            method, model, averaged, test_data, test_set.y, config, n_threads=n_threads,
            client=client,
        )  # fmt: skip
        if best_params is not None:
            test_best = evaluate(
                method, model, best_params, test_data, test_set.y, config, n_threads=n_threads,
                client=client,
            )  # fmt: skip
        if metrics is not None:
            import json

            payload = json.loads(metrics.json_path.read_text())
            payload["test"] = {"loss": test.loss, "accuracy": test.accuracy}
            if test_best is not None:
                payload["test_best_val"] = {
                    "epoch": best_epoch,
                    "loss": test_best.loss,
                    "accuracy": test_best.accuracy,
                }
            metrics.json_path.write_text(json.dumps(payload, indent=1) + "\n")
        if log is not None:
            log(f"test_loss={test.loss:.4g} test_acc={test.accuracy:.4f}")
            if test_best is not None:
                log(f"best validation epoch {best_epoch}: test_acc={test_best.accuracy:.4f}")
    return TrainResult(
        model=model,
        params=averaged,
        history=history,
        test=test,
        test_best=test_best,
        best_epoch=best_epoch,
    )
