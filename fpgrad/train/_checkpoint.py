"""Checkpoints as NPZ: parameters, optimizer state (pytree leaves), epoch, RNG state, config.

With parameter averaging (``TrainConfig.ema``) a checkpoint holds two parameter sets: ``params``,
the averaged parameters that are evaluated (and whose matrices ``W0, W1, ...`` are), and
``train_params``, the optimizer's own iterate, from which a resumed run continues.

Besides ``weight`` and ``threshold`` a checkpoint holds one array per other parameter group the
parameters hold (:class:`~fpgrad.train.Params`: the learned groups of the stored config's
``learn``, and ``delay`` when the delays were drawn at initialisation), named after the group
(``tau_mem``, ``tau_syn``, ``delay``, ``bias``, ``v_reset``, ``t_ref``; ``train_<group>`` for the
iterate). Checkpoints written before model 2 have none of them and no ``learn`` in their config:
they load as runs that learn the weights (and the thresholds with ``train_threshold``).

A checkpoint holds plain numeric arrays and two JSON strings (``config``, ``rng_state``, stored as
0-d unicode arrays); nothing in it is a pickle, and :func:`load_checkpoint` never unpickles
(``allow_pickle=False``; an object array is refused before it is read). Loading validates the
file against itself: the archive's integrity (zip CRCs, each array's header against its size),
the keys present, dtypes, the shapes of the weight matrices against the layer sizes of the stored
config's ``hidden``, the flat weights against the matrices, thresholds, every learned group
present (with its iterate when there is one), the network the parameters make (domains: delays
and refractory periods ``>= 0``, time constants, ``v_reset`` below the threshold), the optimizer
state against a fresh state of the stored config's optimizer over the learned groups, finite
values, the RNG state. Anything
wrong raises one :class:`fpgrad.ProblemError` naming the file and the fault.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._problem import ProblemError
from ._model import OPTIONAL_GROUPS, Classifier, Params

if TYPE_CHECKING:
    from ._loop import TrainConfig

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]

_REQUIRED = ("weight", "threshold", "epoch", "n_opt", "n_layers", "rng_state", "config")
_ITERATE = ("train_weight", "train_threshold")
_OPTIONAL = (*OPTIONAL_GROUPS, *(f"train_{name}" for name in OPTIONAL_GROUPS))

#: What reading a damaged zip / npy member can raise (zipfile, zlib, numpy's header parser).
_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    IndexError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    MemoryError,
    struct.error,
    zlib.error,
)


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """What a checkpoint holds. ``opt_leaves`` are the optimizer state's pytree leaves in
    ``jax.tree_util`` order: unflatten them with the tree structure of a freshly initialised
    state of the same optimizer (see :func:`restore_opt_state`)."""

    params: Params
    opt_leaves: list[np.ndarray]
    epoch: int
    rng_state: dict[str, Any]
    config: dict[str, Any]
    weights: list[np.ndarray]
    train_params: Params | None = None


def save_checkpoint(
    path: str | Path,
    params: Params,
    weights: list[np.ndarray],
    opt_state: Any,
    epoch: int,
    rng: np.random.Generator,
    config: dict[str, Any],
    train_params: Params | None = None,
) -> Path:
    """Write ``path`` (``.npz``): ``weight`` (flat, synapse order), ``W0``, ``W1``, ...
    (matrices), ``threshold``, the other groups ``params`` holds (``delay``, ``tau_mem``, ...),
    ``opt_0..opt_k`` (optimizer leaves), ``epoch``, ``rng_state`` and ``config`` (JSON strings),
    and ``train_weight`` / ``train_threshold`` / ``train_<group>`` if ``train_params`` is given.
    Written to a temporary file first, then renamed."""
    import jax

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    leaves = jax.tree_util.tree_leaves(opt_state)
    arrays: dict[str, Any] = {
        "weight": params.weight,
        "threshold": params.threshold,
        "epoch": np.int64(epoch),
        "n_opt": np.int64(len(leaves)),
        "n_layers": np.int64(len(weights)),
        "rng_state": np.array(json.dumps(rng.bit_generator.state)),
        "config": np.array(json.dumps(config)),
    }
    for name, value in params.arrays().items():
        arrays[name] = value
    if train_params is not None:
        for name, value in train_params.arrays().items():
            arrays[f"train_{name}"] = value
    for i, w in enumerate(weights):
        arrays[f"W{i}"] = w
    for i, leaf in enumerate(leaves):
        arrays[f"opt_{i}"] = np.asarray(leaf)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def load_checkpoint(
    path: str | Path, *, n_inputs: int | None = None, n_classes: int | None = None
) -> Checkpoint:
    """Read and validate a checkpoint written by :func:`save_checkpoint` (its ``config`` that of
    a :class:`~fpgrad.train.TrainConfig`).

    ``n_inputs`` / ``n_classes``: when given, the network's input and output layer sizes must
    equal them (the data a resumed run trains on).

    Raises:
        ProblemError: the file is not a valid checkpoint (the message names the file and the
            fault), or its network does not fit ``n_inputs`` / ``n_classes``.
        OSError: the file cannot be opened.
    """
    path = Path(path)
    arrays = _read_arrays(path)
    return _checkpoint(arrays, path, n_inputs, n_classes)


def restore_opt_state(template: Any, leaves: list[np.ndarray]) -> Any:
    """The optimizer state with ``template``'s tree structure and dtypes and the saved leaves."""
    import jax

    old = jax.tree_util.tree_leaves(template)
    if len(old) != len(leaves):
        raise ProblemError(
            f"checkpoint: optimizer state has {len(leaves)} leaves, expected {len(old)} "
            "(different optimizer settings?)"
        )
    for i, (t, x) in enumerate(zip(old, leaves, strict=True)):
        if np.shape(t) != np.shape(x):
            raise ProblemError(
                f"checkpoint: optimizer leaf {i} has shape {np.shape(x)}, expected {np.shape(t)}"
            )
    new = [
        jax.numpy.asarray(x, dtype=jax.numpy.asarray(t).dtype)
        for t, x in zip(old, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), new)


# -- reading ----------------------------------------------------------------------------------


def _bad(path: Path, what: str) -> ProblemError:
    return ProblemError(f"checkpoint {path}: {what}")


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the archive ``path``, read without unpickling anything."""
    with path.open("rb") as fh:  # a missing or unreadable file stays an OSError
        magic = fh.read(6)
        if not magic:
            raise _bad(path, "empty file")
        if magic[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):  # zip: a member or empty
            if b"PK\x03\x04".startswith(magic):
                raise _bad(path, f"truncated archive ({len(magic)} bytes)")
            what = "a single .npy array" if magic == b"\x93NUMPY" else "not a zip archive"
            raise _bad(path, f"not an .npz checkpoint ({what})")
        fh.seek(0)
        try:
            with np.load(fh, allow_pickle=False) as data:
                names = data.zip.namelist()
                if len(set(names)) != len(names):
                    raise _bad(path, "the archive names an array twice")
                return {name[:-4]: _read_member(data, name, path) for name in names}
        except ProblemError:
            raise
        except _READ_ERRORS as err:
            detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            raise _bad(path, f"damaged or truncated archive ({detail})") from None


def _read_member(data: Any, name: str, path: Path) -> np.ndarray:
    """One ``.npy`` member, its header checked first: no object arrays, a size that matches."""
    if not name.endswith(".npy"):
        raise _bad(path, f"archive member {name!r} is not a .npy array")
    key = name[:-4]
    info = data.zip.getinfo(name)
    with data.zip.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise _bad(path, f"array {key!r}: unsupported .npy version {version}")
        header = member.tell()
    if dtype.hasobject:
        raise _bad(
            path,
            f"array {key!r} holds Python objects (a pickle); a checkpoint holds plain arrays "
            "only, and pickles are never loaded",
        )
    size = dtype.itemsize * math.prod(shape)
    if size != info.file_size - header:
        raise _bad(
            path,
            f"array {key!r}: its header announces {dtype} of shape {shape} ({size} bytes), "
            f"the archive holds {info.file_size - header} bytes",
        )
    return np.asarray(data[key])


# -- validating -------------------------------------------------------------------------------


def _checkpoint(
    arrays: dict[str, np.ndarray], path: Path, n_inputs: int | None, n_classes: int | None
) -> Checkpoint:
    """Validate ``arrays`` (module docstring) and assemble the :class:`Checkpoint`."""
    missing = [k for k in _REQUIRED if k not in arrays]
    if missing:
        held = ", ".join(sorted(arrays)) or "nothing"
        raise _bad(
            path,
            f"not an fpgrad checkpoint: no {', '.join(missing)} (it holds: {held})",
        )
    n_layers = _count(arrays, "n_layers", path)
    n_opt = _count(arrays, "n_opt", path)
    epoch = _count(arrays, "epoch", path)
    layers = [f"W{i}" for i in range(n_layers)]
    leaves = [f"opt_{i}" for i in range(n_opt)]
    iterate = [k for k in _ITERATE if k in arrays]
    if len(iterate) == 1:
        raise _bad(path, f"{iterate[0]} without {({*_ITERATE} - {iterate[0]}).pop()}")
    missing = [k for k in (*layers, *leaves) if k not in arrays]
    if missing:
        raise _bad(
            path,
            f"no {', '.join(missing)} (n_layers = {n_layers}, n_opt = {n_opt})",
        )
    extra = sorted(set(arrays) - {*_REQUIRED, *_ITERATE, *_OPTIONAL, *layers, *leaves})
    if extra:
        raise _bad(path, f"unexpected arrays {', '.join(extra)}")

    config = _json(arrays, "config", path)
    cfg = _train_config(config, path)
    rng_state = _json(arrays, "rng_state", path)
    _check_rng_state(rng_state, path)

    hidden = list(cfg.hidden)
    if n_layers != len(hidden) + 1:
        raise _bad(
            path,
            f"{n_layers} weight matrices, but the stored config's hidden = {hidden} needs "
            f"{len(hidden) + 1}",
        )
    weights = [_floats(arrays, k, path, ndim=2) for k in layers]
    # the hidden sizes come from the config, the input and class counts from W0 and the last W
    sizes = (weights[0].shape[0], *hidden, weights[-1].shape[1])
    for i, w in enumerate(weights):
        if w.shape != (sizes[i], sizes[i + 1]):
            rows = "inputs" if i == 0 else sizes[i]
            cols = "classes" if i == len(hidden) else sizes[i + 1]
            raise _bad(
                path,
                f"W{i} has shape {w.shape}, expected ({rows}, {cols}) for hidden = {hidden} in "
                "the stored config",
            )
    if min(sizes) < 1:
        raise _bad(path, f"empty layer in sizes {'-'.join(map(str, sizes))}")
    if (n_inputs is not None and sizes[0] != n_inputs) or (
        n_classes is not None and sizes[-1] != n_classes
    ):
        raise _bad(
            path,
            f"its network {'-'.join(map(str, sizes))} has {sizes[0]} inputs and {sizes[-1]} "
            f"classes, the data has {n_inputs if n_inputs is not None else sizes[0]} inputs and "
            f"{n_classes if n_classes is not None else sizes[-1]} classes (a checkpoint of "
            "another task?)",
        )
    try:
        from ._loop import _model_for  # here: _loop imports this module

        model = _model_for(cfg, sizes[0], sizes[-1])  # sizes: (W0 rows, *hidden, last W cols)
    except ValueError as err:
        raise _bad(path, f"config: {err}") from None
    for name in ("init_gain", "init_spread"):
        value = getattr(cfg, name)
        if value is not None and len(value) != n_layers:
            raise _bad(path, f"config: {name} has {len(value)} values, expected {n_layers}")

    params = _params(arrays, "", path, model, cfg)
    flat = np.concatenate([w.ravel() for w in weights])
    if not np.array_equal(flat, params.weight):
        raise _bad(path, "the matrices W0, W1, ... differ from the flat weights")
    train_params = None
    if iterate:
        train_params = _params(arrays, "train_", path, model, cfg)
        held, held_iterate = set(params.arrays()), set(train_params.arrays())
        if held != held_iterate:
            odd = sorted(held ^ held_iterate)
            raise _bad(
                path,
                f"the averaged parameters and the iterate hold different groups ({', '.join(odd)})",
            )
    elif any(f"train_{name}" in arrays for name in OPTIONAL_GROUPS):
        raise _bad(path, "train_<group> arrays without train_weight / train_threshold")
    elif cfg.ema > 0:
        raise _bad(
            path,
            f"the stored config averages parameters (ema = {cfg.ema}) but there is no "
            "train_weight / train_threshold (the optimizer's iterate) to resume from",
        )
    opt_leaves = [arrays[k] for k in leaves]
    _check_optimizer(opt_leaves, cfg, params, model, path)
    return Checkpoint(
        params=params,
        opt_leaves=opt_leaves,
        epoch=epoch,
        rng_state=rng_state,
        config=config,
        weights=weights,
        train_params=train_params,
    )


def _count(arrays: dict[str, np.ndarray], key: str, path: Path) -> int:
    a = arrays[key]
    if a.shape != () or a.dtype.kind not in "iu":
        raise _bad(path, f"{key}: expected an integer scalar, got {a.dtype} of shape {a.shape}")
    value = int(a)
    if not 0 <= value <= 1_000_000:
        raise _bad(path, f"{key}: {value} is out of range")
    return value


def _json(arrays: dict[str, np.ndarray], key: str, path: Path) -> dict[str, Any]:
    a = arrays[key]
    if a.shape != () or a.dtype.kind != "U":
        raise _bad(path, f"{key}: expected a JSON string, got {a.dtype} of shape {a.shape}")
    try:
        value = json.loads(str(a))
    except ValueError as err:
        raise _bad(path, f"{key}: not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise _bad(path, f"{key}: expected a JSON object, got {type(value).__name__}")
    return value


def _floats(arrays: dict[str, np.ndarray], key: str, path: Path, *, ndim: int) -> np.ndarray:
    a = arrays[key]
    if a.dtype != np.float64 or a.ndim != ndim:
        raise _bad(path, f"{key}: expected a {ndim}-d float64 array, got {a.dtype} {a.shape}")
    if not np.all(np.isfinite(a)):
        raise _bad(path, f"{key}: non-finite values")
    return a


def _params(
    arrays: dict[str, np.ndarray], prefix: str, path: Path, model: Classifier, cfg: TrainConfig
) -> Params:
    """The parameter set of the arrays named ``prefix + group`` (``""``: the averaged one,
    ``"train_"``: the iterate), checked against ``model`` and the config's ``learn``."""
    weight_key, threshold_key = f"{prefix}weight", f"{prefix}threshold"
    weight = _floats(arrays, weight_key, path, ndim=1)
    threshold = _floats(arrays, threshold_key, path, ndim=1)
    n_weights, n_neurons = model.n_synapses, model.n_neurons
    if weight.shape != (n_weights,):
        raise _bad(path, f"{weight_key} has {weight.size} values, the layers need {n_weights}")
    if threshold.shape != (n_neurons,):
        raise _bad(path, f"{threshold_key} has {threshold.size} values, for {n_neurons} neurons")
    if not np.all(threshold > 0):
        raise _bad(path, f"{threshold_key}: thresholds must be > 0")
    groups: dict[str, np.ndarray] = {}
    for name in OPTIONAL_GROUPS:
        key = f"{prefix}{name}"
        if key not in arrays:
            if name in cfg.learn:
                raise _bad(
                    path,
                    f"the stored config learns {name} but there is no {key} array (the learned "
                    "values)",
                )
            continue
        value = _floats(arrays, key, path, ndim=1)
        size = model.group_size(name)
        if value.shape != (size,):
            per = "synapses" if name == "delay" else "neurons"
            raise _bad(path, f"{key} has {value.size} values, for {size} {per}")
        groups[name] = value
    params = Params(weight=weight, threshold=threshold, **groups)
    try:
        model.network(params)
    except ProblemError as err:
        raise _bad(path, f"{prefix or 'the '}parameters make no valid network: {err}") from None
    return params


def _train_config(config: dict[str, Any], path: Path) -> TrainConfig:
    """``config`` as a :class:`TrainConfig`, each stored field of the right type."""
    from ._loop import TrainConfig  # here: _loop imports this module

    if "hidden" not in config:
        raise _bad(path, "config: no 'hidden' (not a training config)")
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        if f.name not in config:
            continue
        value, default = config[f.name], getattr(defaults, f.name)
        if f.name == "hidden":
            ok = isinstance(value, list) and all(_is_int(h) and h >= 1 for h in value)
        elif f.name == "learn":
            ok = isinstance(value, list) and all(isinstance(x, str) for x in value)
        elif f.name == "delay":
            ok = isinstance(value, list) and len(value) == 2 and all(map(_is_real, value))
        elif f.name in ("init_gain", "init_spread"):
            ok = value is None or (isinstance(value, list) and all(map(_is_real, value)))
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = _is_int(value) and value >= (1 if f.name == "batch_size" else 0)
        elif isinstance(default, float):
            ok = _is_real(value)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise _bad(path, f"config: {f.name} = {value!r} is not valid")
    try:
        return TrainConfig.from_dict(config)
    except (TypeError, ValueError) as err:
        raise _bad(path, f"config: {err}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_rng_state(state: dict[str, Any], path: Path) -> None:
    """The state of the run's generator (``numpy.random.default_rng``: PCG64)."""
    if state.get("bit_generator") != "PCG64":
        raise _bad(path, f"rng_state: expected a PCG64 state, got {state.get('bit_generator')!r}")
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise _bad(path, f"rng_state: not a valid PCG64 state ({err})") from None


def _check_optimizer(
    leaves: list[np.ndarray], cfg: TrainConfig, params: Params, model: Classifier, path: Path
) -> None:
    """The leaves against a fresh state of ``cfg``'s optimizer: count, shapes, kinds, finite."""
    import jax
    import jax.numpy as jnp

    from ._loop import make_optimizer

    try:
        optimizer = make_optimizer(cfg, 1)
    except ValueError as err:
        raise _bad(path, f"config: {err}") from None
    template = jax.tree_util.tree_leaves(
        optimizer.init({name: jnp.asarray(params.value(name, model)) for name in cfg.learn})
    )
    if len(leaves) != len(template):
        raise _bad(
            path,
            f"the optimizer state has {len(leaves)} arrays, the stored config's optimizer "
            f"({cfg.optimizer}{', clipped' if cfg.clip > 0 else ''}, learning "
            f"{', '.join(cfg.learn)}) has {len(template)}",
        )
    for i, (leaf, ref) in enumerate(zip(leaves, template, strict=True)):
        ref_kind = np.dtype(ref.dtype).kind
        kind_ok = leaf.dtype.kind in ("iu" if ref_kind in "iu" else ref_kind)
        if leaf.shape != ref.shape or not kind_ok:
            raise _bad(
                path,
                f"opt_{i} is {leaf.dtype} of shape {leaf.shape}, the optimizer's state needs "
                f"{ref.dtype} of shape {ref.shape}",
            )
        if leaf.dtype.kind == "f" and not np.all(np.isfinite(leaf)):
            raise _bad(path, f"opt_{i}: non-finite values")
