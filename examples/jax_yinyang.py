"""Yin-Yang in a plain ``jax.jit`` + optax loop through ``fpgrad.jax`` (exact gradients).

The same algorithm as ``fpgrad train yinyang --method exact`` (``fpgrad.train.train``): the
task's network and settings, initialisation and shuffling from the seed, Adam with its decay on
the weights and the synaptic delays (the task learns both; ``config.learn`` may also be weights
only), delays projected to ``>= 0`` after each step, Göltz-style bumping of silent neurons, the
moving average of the parameters that is validated and tested. Here the minibatch gradient is
``jax.grad`` of the batch loss through the spike function (reverse mode, one callback per
minibatch, the samples on every core).

    python examples/jax_yinyang.py --epochs 80             # the full run (the task default)
    python examples/jax_yinyang.py --epochs 2 --train-samples 500
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import fpgrad.jax
from fpgrad.train import Classifier, TrainConfig, init_params, load_task, make_optimizer

jax.config.update("jax_enable_x64", True)


def train(config: TrainConfig, train_set, val_set, test_set, *, n_threads=2, log=None) -> dict:
    """Train on ``train_set``; per-epoch history, test accuracies and the averaged parameters
    (``"weight"``, and ``"delay"`` when learned)."""
    learned = tuple(config.learn)
    if "weight" not in learned or not set(learned) <= {"weight", "delay"}:
        raise ValueError(f"this example learns weights and delays, got learn={learned}")
    names = ("tau_syn", "tau_mem", "t_ref", "t_max", "bias", "v_reset")
    model = Classifier(
        (5, *config.hidden, 3), **{k: getattr(config, k) for k in names}, delay=config.delay[0]
    )
    rng = np.random.default_rng(config.seed)
    init = init_params(
        model, rng, gain=config.init_gain, spread=config.init_spread, delay=config.delay
    )
    network = model.network(init)
    # first spikes only: keep each neuron's first spike (hidden neurons fire more often)
    f = fpgrad.jax.spike_fn(
        network, t_max=model.t_max, max_spikes=1, overflow="truncate", n_threads=n_threads
    )
    ce = fpgrad.jax.cross_entropy(
        f, model.outputs, tau0=config.tau0, tau1=config.tau1, alpha=config.alpha
    )
    start = fpgrad.jax.params(network)
    fixed = {k: v for k, v in start.items() if k not in learned}
    out_rows = model.outputs - model.n_inputs
    n_hidden = model.n_neurons - 3
    fan_in = np.concatenate([np.full(b, float(a)) for a, b in model.shapes])
    post = model.post_of_synapse
    steps = -(-len(train_set) // config.batch_size)
    optimizer = make_optimizer(config, steps)

    def batch(p, x, y):  # per-sample losses and first spike times (B, N)
        times = jax.vmap(f, in_axes=(None, 0))({**fixed, **p}, x)
        return jax.vmap(ce)(times, y), times[:, :, 0]

    @jax.jit
    def step(p, avg, opt_state, x, y, k):
        def mean_loss(p):
            losses, first = batch(p, x, y)
            return jnp.mean(losses), (losses, first)

        (_, (losses, first)), grad = jax.value_and_grad(mean_loss, has_aux=True)(p)
        with jax.numpy_dtype_promotion("standard"):  # optax's int32 step count
            updates, opt_state = optimizer.update(grad, opt_state, p)
        p = jax.tree.map(jnp.add, p, updates)
        if "delay" in p:
            p["delay"] = jnp.maximum(p["delay"], 0.0)  # the projection onto delays >= 0
        w = p["weight"]
        silent = ~jnp.isfinite(first)  # bump silent outputs (own class) and hidden neurons
        own = jax.nn.one_hot(y, 3, dtype=w.dtype)
        n_own = own.sum(axis=0)
        frac = (own * silent[:, out_rows].astype(w.dtype)).sum(axis=0) / jnp.maximum(n_own, 1.0)
        bump = jnp.concatenate(
            [
                jnp.where(silent[:, :n_hidden].all(axis=0), config.bump_hidden, 0.0),
                jnp.where(n_own > 0, config.bump * frac, 0.0),
            ]
        )
        p["weight"] = w + (bump / fan_in)[post]
        decay = jnp.minimum(config.ema, (1.0 + k) / (10.0 + k))  # parameter averaging
        if config.ema > 0:
            p_avg = jax.tree.map(lambda a, q: decay * a + (1.0 - decay) * q, avg, p)
        else:
            p_avg = p
        return p, p_avg, opt_state, losses, first

    @jax.jit
    def evaluate(p, x, y):
        losses, first = batch(p, x, y)
        return losses, jnp.argmin(first[:, out_rows], axis=1)

    def score(p, data, labels):
        parts = [
            evaluate(p, data[i : i + 500], labels[i : i + 500]) for i in range(0, len(labels), 500)
        ]
        return (
            float(np.mean(np.concatenate([p[0] for p in parts]))),
            float(np.mean(np.concatenate([p[1] for p in parts]) == labels)),
        )

    x_train, y_train = np.asarray(fpgrad.jax.pad_batch(train_set.encode())), train_set.y
    x_val = np.asarray(fpgrad.jax.pad_batch(val_set.encode()))
    p = avg = {k: jnp.asarray(start[k]) for k in learned}
    opt_state = optimizer.init(p)
    history, best, best_p, best_epoch = [], -1.0, avg, 0
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        order = rng.permutation(len(train_set))
        loss_sum, correct = 0.0, 0
        for s in range(steps):
            idx = order[s * config.batch_size : (s + 1) * config.batch_size]
            p, avg, opt_state, losses, first = step(
                p, avg, opt_state, x_train[idx], y_train[idx], float(epoch * steps + s)
            )
            loss_sum += float(jnp.sum(losses))
            correct += int(np.sum(np.argmin(np.asarray(first)[:, out_rows], 1) == y_train[idx]))
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / len(train_set),
            "train_acc": correct / len(train_set),
            "epoch_time_s": time.perf_counter() - t0,
        }
        row["val_loss"], row["val_acc"] = score(avg, x_val, val_set.y)
        if row["val_acc"] > best:
            best, best_p, best_epoch = row["val_acc"], avg, epoch + 1
        history.append(row)
        if log is not None:
            log(" ".join(f"{k}={v:.4g}" for k, v in row.items()))
    x_test = np.asarray(fpgrad.jax.pad_batch(test_set.encode()))
    return {
        "history": history,
        **{k: np.asarray(v) for k, v in avg.items()},
        "best_epoch": best_epoch,
        "test_acc": score(avg, x_test, test_set.y)[1],
        "test_acc_best": score(best_p, x_test, test_set.y)[1],
    }


def main(argv: Any = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--train-samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    task = load_task("yinyang")
    config = TrainConfig(**{**task.defaults, "epochs": args.epochs, "seed": args.seed})
    train_set = task.train.subset(np.arange(min(args.train_samples, len(task.train))))
    out = train(config, train_set, task.validation, task.test, log=print)
    print(
        f"test_acc={out['test_acc']:.4f} (best validation epoch {out['best_epoch']}: "
        f"{out['test_acc_best']:.4f})"
    )
    return out


if __name__ == "__main__":
    main()
