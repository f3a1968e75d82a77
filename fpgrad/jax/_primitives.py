"""Three JAX primitives around fpgrad's exact engines, with their JVP, transpose and batching
rules.

* ``fpgrad_spikes``: padded spike times, spike counts and degeneracy margins (the simulation);
* ``fpgrad_spikes_jvp``: linear in its tangents: forward mode (FP);
* ``fpgrad_spikes_vjp``: linear in its cotangent: reverse mode; it is the transpose of the JVP
  primitive (and the JVP primitive its transpose), so ``jax.grad`` / ``jax.vjp`` reach the reverse
  engine and ``jax.jvp`` / ``jax.jacfwd`` the forward engine, never one through the other.

Each lowers to one ``jax.pure_callback`` into :mod:`fpgrad.jax._host` (outside ``jit`` the
primitive calls the host directly). Their batching rules fold a ``vmap`` axis into the call
itself (a *sample* axis when it is on a parameter or the input times, a *direction* axis when it is
on the tangents only, a *row* axis when on the cotangent only), so any nesting of ``vmap``,
``jacfwd`` and ``jacrev`` still makes one callback, and the host runs the samples on all cores.

Static parameters: ``spec`` (:class:`~fpgrad.jax._host.Spec`), ``flags`` (which operands carry
the sample axis), ``nb`` (its size, 0 for none); the JVP adds ``live`` (the operands with
tangents), ``tflags`` (per tangent: sample axis, direction axis) and ``nd`` (directions, 0 for
none); the VJP ``want`` (the operands whose cotangents it returns), ``oflags`` (per output:
sample axis, row axis) and ``nc`` (cotangent rows, 0 for none). Second derivatives are not
implemented (a clear ``NotImplementedError``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import ShapedArray
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from . import _host
from ._host import INPUT, OPERANDS, Spec

__all__ = ["jvp_p", "spikes_p", "vjp_p"]

N_OPS = len(OPERANDS)

spikes_p = Primitive("fpgrad_spikes")
jvp_p = Primitive("fpgrad_spikes_jvp")
vjp_p = Primitive("fpgrad_spikes_vjp")
for _p in (spikes_p, jvp_p, vjp_p):
    _p.multiple_results = True


def _lead(*sizes: int) -> tuple[int, ...]:
    return tuple(s for s in sizes if s)


# ----------------------------------------------------------------------------- abstract eval


def _spikes_avals(*ops: Any, spec: Spec, flags: tuple, nb: int, keep: bool) -> list:
    n = spec.network.n_neurons
    lead = _lead(nb)
    return [
        ShapedArray((*lead, n, spec.max_spikes), np.float64),
        ShapedArray((*lead, n), np.int64),
        ShapedArray((*lead, 6), np.float64),
    ]


def _jvp_avals(*args: Any, spec: Spec, flags: tuple, nb: int, live: tuple, tflags: tuple,
               nd: int) -> list:  # fmt: skip
    return [ShapedArray((*_lead(nd, nb), spec.network.n_neurons, spec.max_spikes), np.float64)]


def _base(op: Any, flagged: bool) -> tuple[int, ...]:
    return tuple(op.shape[1:] if flagged else op.shape)


def _vjp_avals(*args: Any, spec: Spec, flags: tuple, nb: int, want: tuple, oflags: tuple,
               nc: int) -> list:  # fmt: skip
    ops = args[1 : 1 + N_OPS]
    return [
        ShapedArray(
            (*_lead(nc if row else 0, nb if sample else 0), *_base(ops[i], flags[i])), np.float64
        )
        for i, (sample, row) in zip(want, oflags, strict=True)
    ]


spikes_p.def_abstract_eval(_spikes_avals)
jvp_p.def_abstract_eval(_jvp_avals)
vjp_p.def_abstract_eval(_vjp_avals)


# ----------------------------------------------------------------------------- host calls


def _structs(avals: list) -> tuple:
    return tuple(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals)


def _host_fn(prim: Primitive) -> Any:
    return {spikes_p: _host.forward, jvp_p: _host.jvp, vjp_p: _host.vjp}[prim]


def _static(prim: Primitive, params: dict) -> tuple:
    names = {
        spikes_p: ("spec", "flags", "nb", "keep"),
        jvp_p: ("spec", "flags", "nb", "live", "tflags", "nd"),
        vjp_p: ("spec", "flags", "nb", "want", "oflags", "nc"),
    }[prim]
    return tuple(params[k] for k in names)


def _impl(prim: Primitive, avals_fn: Any, *args: Any, **params: Any) -> list:
    """Outside ``jit``: call the host directly."""
    outs = _host_fn(prim)(*_static(prim, params), *(np.asarray(a) for a in args))
    avals = avals_fn(*args, **params)
    return [
        jnp.asarray(np.asarray(o, dtype=a.dtype).reshape(a.shape))
        for o, a in zip(outs, avals, strict=True)
    ]


def _lowering(prim: Primitive, avals_fn: Any) -> Any:
    def lower(*args: Any, **params: Any) -> list:
        avals = avals_fn(*args, **params)
        fn = partial(_host_fn(prim), *_static(prim, params))
        return list(jax.pure_callback(fn, _structs(avals), *args))

    return mlir.lower_fun(lower, multiple_results=True)


for _p, _avals in ((spikes_p, _spikes_avals), (jvp_p, _jvp_avals), (vjp_p, _vjp_avals)):
    _p.def_impl(partial(_impl, _p, _avals))
    mlir.register_lowering(_p, _lowering(_p, _avals))


# ----------------------------------------------------------------------------- differentiation


def _is_zero(t: Any) -> bool:
    return type(t) is ad.Zero


def _zero(aval: ShapedArray) -> ad.Zero:
    if np.issubdtype(aval.dtype, np.integer):
        return ad.Zero(ShapedArray(aval.shape, jax.dtypes.float0))
    return ad.Zero(ShapedArray(aval.shape, aval.dtype))


def _spikes_jvp(primals: tuple, tangents: tuple, *, spec: Spec, flags: tuple, nb: int,
                keep: bool) -> tuple:  # fmt: skip
    outs = spikes_p.bind(*primals, spec=spec, flags=flags, nb=nb, keep=True)
    avals = _spikes_avals(*primals, spec=spec, flags=flags, nb=nb, keep=keep)
    live = tuple(i for i, t in enumerate(tangents) if not _is_zero(t))
    if not live:
        return outs, [_zero(a) for a in avals]
    (t_times,) = jvp_p.bind(
        outs[0], *primals, *(tangents[i] for i in live),
        spec=spec, flags=flags, nb=nb, live=live,
        tflags=tuple((flags[i], False) for i in live), nd=0,
    )  # fmt: skip
    return outs, [t_times, _zero(avals[1]), _zero(avals[2])]


ad.primitive_jvps[spikes_p] = _spikes_jvp

_SECOND_ORDER = (
    "fpgrad.jax: second derivatives of spike times (differentiating a JVP or VJP with respect "
    "to the parameters or input times) are not implemented"
)


def _jvp_jvp(primals: tuple, tangents: tuple, **params: Any) -> tuple:
    """The JVP primitive is linear in its tangents (its own JVP there); not in the primals."""
    if not all(_is_zero(t) for t in tangents[: 1 + N_OPS]):
        raise NotImplementedError(_SECOND_ORDER)
    out = jvp_p.bind(*primals, **params)
    dots = tangents[1 + N_OPS :]
    keep = [k for k, t in enumerate(dots) if not _is_zero(t)]
    avals = _jvp_avals(*primals, **params)
    if not keep:
        return out, [_zero(avals[0])]
    sub = dict(params, live=tuple(params["live"][k] for k in keep),
               tflags=tuple(params["tflags"][k] for k in keep))  # fmt: skip
    return out, jvp_p.bind(*primals[: 1 + N_OPS], *(dots[k] for k in keep), **sub)


def _vjp_jvp(primals: tuple, tangents: tuple, **params: Any) -> tuple:
    """The VJP primitive is linear in its cotangent (its own JVP there)."""
    if not all(_is_zero(t) for t in tangents[: 1 + N_OPS]):
        raise NotImplementedError(_SECOND_ORDER)
    out = vjp_p.bind(*primals, **params)
    if _is_zero(tangents[-1]):
        return out, [_zero(a) for a in _vjp_avals(*primals, **params)]
    return out, vjp_p.bind(*primals[:-1], tangents[-1], **params)


ad.primitive_jvps[jvp_p] = _jvp_jvp
ad.primitive_jvps[vjp_p] = _vjp_jvp


def _check_linear(args: tuple, n_fixed: int) -> None:
    if any(ad.is_undefined_primal(a) for a in args[:n_fixed]):
        raise NotImplementedError(_SECOND_ORDER)


def _jvp_transpose(cts: list, *args: Any, spec: Spec, flags: tuple, nb: int, live: tuple,
                   tflags: tuple, nd: int) -> list:  # fmt: skip
    """Transpose of forward mode: reverse mode, one cotangent per tangent operand."""
    _check_linear(args, 1 + N_OPS)
    (ct,) = cts
    tangents = args[1 + N_OPS :]
    if _is_zero(ct):
        return [None] * (1 + N_OPS) + [ad.Zero(t.aval) for t in tangents]
    grads = vjp_p.bind(
        *args[: 1 + N_OPS], ad.instantiate_zeros(ct),
        spec=spec, flags=flags, nb=nb, want=live, oflags=tflags, nc=nd,
    )  # fmt: skip
    return [None] * (1 + N_OPS) + list(grads)


def _vjp_transpose(cts: list, *args: Any, spec: Spec, flags: tuple, nb: int, want: tuple,
                   oflags: tuple, nc: int) -> list:  # fmt: skip
    """Transpose of reverse mode (in its cotangent): forward mode."""
    _check_linear(args, 1 + N_OPS)
    keep = [k for k, c in enumerate(cts) if not _is_zero(c)]
    if not keep:
        return [None] * (1 + N_OPS) + [ad.Zero(args[-1].aval)]
    (out,) = jvp_p.bind(
        *args[: 1 + N_OPS], *(cts[k] for k in keep),
        spec=spec, flags=flags, nb=nb, live=tuple(want[k] for k in keep),
        tflags=tuple(oflags[k] for k in keep), nd=nc,
    )  # fmt: skip
    return [None] * (1 + N_OPS) + [out]


ad.primitive_transposes[jvp_p] = _jvp_transpose
ad.primitive_transposes[vjp_p] = _vjp_transpose


# ----------------------------------------------------------------------------- batching


def _merge(x: Any, d: int | None, pos: int, old: bool, old_size: int, size: int) -> tuple:
    """Fold a new ``vmap`` axis (at ``d`` of ``x``, ``None``: absent) into the batch axis at
    ``pos`` of the canonical layout (``old``: ``x`` has that axis already, of ``old_size``;
    ``old_size = 0``: no operand has it). Merged index ``new * old_size + old``; an operand
    missing one of the two is broadcast along it. Returns ``(x, has the axis now)``."""
    inner = max(old_size, 1)
    if d is not None:
        x = jnp.moveaxis(x, d, pos)
        if not old:
            if not old_size:
                return x, True
            x = jnp.expand_dims(x, pos + 1)
            x = jnp.broadcast_to(x, (*x.shape[: pos + 1], inner, *x.shape[pos + 2 :]))
    elif old:
        x = jnp.broadcast_to(jnp.expand_dims(x, pos), (*x.shape[:pos], size, *x.shape[pos:]))
    else:
        return x, False
    return x.reshape((*x.shape[:pos], size * inner, *x.shape[pos + 2 :])), True


def _ensure(x: Any, d: int | None, pos: int, old: bool, old_size: int, size: int) -> Any:
    """:func:`_merge`, broadcasting ``x`` along the merged axis if it has neither."""
    y, has = _merge(x, d, pos, old, old_size, size)
    if not has:
        y = jnp.broadcast_to(jnp.expand_dims(y, pos), (*y.shape[:pos], size, *y.shape[pos:]))
    return y


def _size(args: tuple, dims: tuple) -> int:
    return next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)


def _split(x: Any, pos: int, size: int, old_size: int) -> Any:
    """Undo a merge: the axis at ``pos`` of ``size * max(old_size, 1)`` -> ``(size, old_size)``
    (just ``size`` when ``old_size = 0``)."""
    if not old_size:
        return x
    return x.reshape((*x.shape[:pos], size, old_size, *x.shape[pos + 1 :]))


def _spikes_batch(args: tuple, dims: tuple, *, spec: Spec, flags: tuple, nb: int,
                  keep: bool) -> tuple:  # fmt: skip
    size = _size(args, dims)
    merged = [_merge(x, d, 0, f, nb, size) for x, d, f in zip(args, dims, flags, strict=True)]
    outs = spikes_p.bind(
        *(m[0] for m in merged), spec=spec, flags=tuple(m[1] for m in merged),
        nb=size * max(nb, 1), keep=keep,
    )  # fmt: skip
    return [_split(o, 0, size, nb) for o in outs], [0, 0, 0]


def _jvp_batch(args: tuple, dims: tuple, *, spec: Spec, flags: tuple, nb: int, live: tuple,
               tflags: tuple, nd: int) -> tuple:  # fmt: skip
    size = _size(args, dims)
    times, ops, tangents = args[0], args[1 : 1 + N_OPS], args[1 + N_OPS :]
    t_dims = dims[1 + N_OPS :]
    if any(d is not None for d in dims[: 1 + N_OPS]):  # a sample axis
        times = _ensure(times, dims[0], 0, nb > 0, nb, size)
        merged = [_merge(x, d, 0, f, nb, size) for x, d, f in
                  zip(ops, dims[1 : 1 + N_OPS], flags, strict=True)]  # fmt: skip
        new_t, new_tflags = [], []
        for t, d, (sample, direction) in zip(tangents, t_dims, tflags, strict=True):
            y, has = _merge(t, d, 1 if direction else 0, sample, nb, size)
            new_t.append(y)
            new_tflags.append((has, direction))
        (out,) = jvp_p.bind(
            times, *(m[0] for m in merged), *new_t, spec=spec,
            flags=tuple(m[1] for m in merged), nb=size * max(nb, 1), live=live,
            tflags=tuple(new_tflags), nd=nd,
        )  # fmt: skip
        pos = 1 if nd else 0
        return [_split(out, pos, size, nb)], [pos]
    new_t, new_tflags = [], []  # a direction axis: only tangents are batched
    for t, d, (sample, direction) in zip(tangents, t_dims, tflags, strict=True):
        y, has = _merge(t, d, 0, direction, nd, size)
        new_t.append(y)
        new_tflags.append((sample, has))
    (out,) = jvp_p.bind(
        times, *ops, *new_t, spec=spec, flags=flags, nb=nb, live=live,
        tflags=tuple(new_tflags), nd=size * max(nd, 1),
    )  # fmt: skip
    return [_split(out, 0, size, nd)], [0]


def _vjp_batch(args: tuple, dims: tuple, *, spec: Spec, flags: tuple, nb: int, want: tuple,
               oflags: tuple, nc: int) -> tuple:  # fmt: skip
    size = _size(args, dims)
    times, ops, ct = args[0], args[1 : 1 + N_OPS], args[-1]
    outs_new, bdims = [], []
    if any(d is not None for d in dims[: 1 + N_OPS]):  # a sample axis
        times = _ensure(times, dims[0], 0, nb > 0, nb, size)
        merged = [_merge(x, d, 0, f, nb, size) for x, d, f in
                  zip(ops, dims[1 : 1 + N_OPS], flags, strict=True)]  # fmt: skip
        ct = _ensure(ct, dims[-1], 1 if nc else 0, nb > 0, nb, size)
        grads = vjp_p.bind(
            times, *(m[0] for m in merged), ct, spec=spec, flags=tuple(m[1] for m in merged),
            nb=size * max(nb, 1), want=want, oflags=tuple((True, row) for _, row in oflags),
            nc=nc,
        )  # fmt: skip
        for g, (sample, row) in zip(grads, oflags, strict=True):
            pos = 1 if row else 0
            g = _split(g, pos, size, nb)
            if nb and not sample:
                g = g.sum(axis=pos + 1)
            outs_new.append(g)
            bdims.append(pos)
        return outs_new, bdims
    ct = _merge(ct, dims[-1], 0, nc > 0, nc, size)[0]  # a row axis: only the cotangent
    grads = vjp_p.bind(
        times, *ops, ct, spec=spec, flags=flags, nb=nb, want=want,
        oflags=tuple((sample, True) for sample, _ in oflags), nc=size * max(nc, 1),
    )  # fmt: skip
    for g, (_, row) in zip(grads, oflags, strict=True):
        g = _split(g, 0, size, nc)
        if nc and not row:
            g = g.sum(axis=1)
        outs_new.append(g)
        bdims.append(0)
    return outs_new, bdims


batching.primitive_batchers[spikes_p] = _spikes_batch
batching.primitive_batchers[jvp_p] = _jvp_batch
batching.primitive_batchers[vjp_p] = _vjp_batch

assert OPERANDS[INPUT] == "input_time"
