"""Yin-Yang in a plain ``jax.jit`` + optax loop through ``fpgrad.jax`` (exact gradients).

The same algorithm as ``fpgrad train yinyang --method exact`` (``fpgrad.train.train``): the
task's network and settings, initialisation and shuffling from the seed, Adam with its decay,
Göltz-style bumping of silent neurons, the moving average of the weights that is validated and
tested. Here the minibatch gradient is ``jax.grad`` of the batch loss through the spike function
(reverse mode, one callback per minibatch, the samples on every core).

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
    """Train on ``train_set``; per-epoch history, test accuracies and the averaged weights."""
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
    fixed = {k: v for k, v in fpgrad.jax.params(network).items() if k != "weight"}
    out_rows = model.outputs - model.n_inputs
    n_hidden = model.n_neurons - 3
    fan_in = np.concatenate([np.full(b, float(a)) for a, b in model.shapes])
    post = model.post_of_synapse
    steps = -(-len(train_set) // config.batch_size)
    optimizer = make_optimizer(config, steps)

    def batch(w, x, y):  # per-sample losses and first spike times (B, N)
        times = jax.vmap(f, in_axes=(None, 0))({**fixed, "weight": w}, x)
        return jax.vmap(ce)(times, y), times[:, :, 0]

    @jax.jit
    def step(w, avg, opt_state, x, y, k):
        def mean_loss(w):
            losses, first = batch(w, x, y)
            return jnp.mean(losses), (losses, first)

        (_, (losses, first)), grad = jax.value_and_grad(mean_loss, has_aux=True)(w)
        with jax.numpy_dtype_promotion("standard"):  # optax's int32 step count
            updates, opt_state = optimizer.update(grad, opt_state, w)
        w = w + updates
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
        w = w + (bump / fan_in)[post]
        decay = jnp.minimum(config.ema, (1.0 + k) / (10.0 + k))  # weight averaging
        avg = decay * avg + (1.0 - decay) * w if config.ema > 0 else w
        return w, avg, opt_state, losses, first

    @jax.jit
    def evaluate(w, x, y):
        losses, first = batch(w, x, y)
        return losses, jnp.argmin(first[:, out_rows], axis=1)

    def score(w, data, labels):
        parts = [
            evaluate(w, data[i : i + 500], labels[i : i + 500]) for i in range(0, len(labels), 500)
        ]
        return (
            float(np.mean(np.concatenate([p[0] for p in parts]))),
            float(np.mean(np.concatenate([p[1] for p in parts]) == labels)),
        )

    x_train, y_train = np.asarray(fpgrad.jax.pad_batch(train_set.encode())), train_set.y
    x_val = np.asarray(fpgrad.jax.pad_batch(val_set.encode()))
    w = avg = jnp.asarray(init.weight)
    opt_state = optimizer.init(w)
    history, best, best_w, best_epoch = [], -1.0, avg, 0
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        order = rng.permutation(len(train_set))
        loss_sum, correct = 0.0, 0
        for s in range(steps):
            idx = order[s * config.batch_size : (s + 1) * config.batch_size]
            w, avg, opt_state, losses, first = step(
                w, avg, opt_state, x_train[idx], y_train[idx], float(epoch * steps + s)
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
            best, best_w, best_epoch = row["val_acc"], avg, epoch + 1
        history.append(row)
        if log is not None:
            log(" ".join(f"{k}={v:.4g}" for k, v in row.items()))
    x_test = np.asarray(fpgrad.jax.pad_batch(test_set.encode()))
    return {
        "history": history,
        "weight": np.asarray(avg),
        "best_epoch": best_epoch,
        "test_acc": score(avg, x_test, test_set.y)[1],
        "test_acc_best": score(best_w, x_test, test_set.y)[1],
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
