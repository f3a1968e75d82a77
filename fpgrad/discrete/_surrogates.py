"""The surrogate zoo: Heaviside spike functions with hand-written surrogate derivatives.

A spike function maps the scaled distance to threshold ``x`` to a spike,

    x = (V - theta) / theta        (``relative=True``, the default: ``x`` in units of threshold)
    x = V - theta                  (``relative=False``: ``x`` in units of voltage)

    forward (``spiking=True``):   S(x) = H(x) = 1 if x >= 0 else 0   (V >= theta fires)
    forward (``spiking=False``):  S(x) = scale * Phi(x / width)      (the smooth primitive)
    derivative (both):            S'(x) = g(x) = scale / width * phi(x / width)

where ``phi`` is a unit *shape*, a probability density with ``phi(0) = 1`` (height 1 at threshold;
for the one-sided shape, at the edge of its support) and ``Phi`` its cumulative distribution
(``Phi' = phi``). With these conventions

* ``integral g(x) dx = scale`` over ``x`` (and also over ``V``: ``dV = theta dx``); with
  ``scale = 1`` the surrogate is *normalised* and tends to the Dirac delta of the true derivative
  of the Heaviside as ``width -> 0``;
* ``g(0) = scale / width``: ``width`` is the width of the rectangle with the same area and height,
  so surrogates of different shapes but equal ``width`` are directly comparable.

Shapes (``u = x / width``)::

    name                 phi(u)                      Phi(u)                       support
    rectangular          1 for |u| <= 1/2            clip(u + 1/2, 0, 1)          [-1/2, 1/2]
    triangular           max(0, 1 - |u|)             piecewise quadratic          [-1, 1]
    sigmoid              4 s(4u) s(-4u)              s(4u), s = logistic          R
    gaussian             exp(-pi u^2)                (1 + erf(sqrt(pi) u)) / 2    R
    laplace              exp(-2 |u|)                 SLAYER's exponential pdf     R
    fast_sigmoid         1 / (1 + 2 |u|)^2           1/2 + u / (1 + 2 |u|)        R (SuperSpike)
    single_exponential   exp(-u) for u >= 0          1 - exp(-u) for u >= 0       [0, inf)
    arctan               1 / (1 + (pi u)^2)          1/2 + arctan(pi u) / pi      R (Cauchy)
    straight_through     1                           u + 1/2                      R (no finite area)

``single_exponential`` is one-sided: non-zero only at and above threshold (``x >= 0``, where the
neuron fires), so gradients flow only through the spikes that occurred, and its smooth primitive
is exactly 0 below threshold. ``straight_through`` has no finite integral: its derivative is the
constant ``scale / width`` (``1`` for the defaults ``width = scale = 1``), and its smooth
primitive is linear (unbounded).

Every formula is evaluated in a form that stays finite for any finite ``x`` in float32 and
float64 (e.g. ``s(z) s(-z)`` rather than ``e^{-z} / (1 + e^{-z})^2``, which overflows to NaN).

Presets reproduce the scalings of other libraries, whose surrogates are (``y = V - theta``, except
SLAYER) not normalised; see :data:`PRESETS` and :func:`get_surrogate`. All those libraries fire on
``V > theta`` where fpgrad fires on ``V >= theta`` (a difference on a set of measure zero).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "DEFAULT_WIDTH",
    "PRESETS",
    "SURROGATES",
    "SurrogateSpike",
    "get_surrogate",
    "heaviside",
]

#: Default ``width`` (in units of threshold) of the normalised surrogates.
DEFAULT_WIDTH = 0.1


def heaviside(x: ArrayLike) -> Array:
    """``1`` where ``x >= 0`` (at threshold fires), else ``0``, in the dtype of ``x``."""
    x = jnp.asarray(x)
    return jnp.where(x >= 0, 1, 0).astype(x.dtype)


# --- unit shapes: (phi, Phi) with phi(0) = 1, integral 1 (except straight-through) -------------


def _rect_pdf(u: Array) -> Array:
    return jnp.where(jnp.abs(u) <= 0.5, 1, 0).astype(u.dtype)


def _rect_cdf(u: Array) -> Array:
    return jnp.clip(u + 0.5, 0.0, 1.0)


def _tri_pdf(u: Array) -> Array:
    return jnp.maximum(1.0 - jnp.abs(u), 0.0)


def _tri_cdf(u: Array) -> Array:
    c = jnp.clip(u, -1.0, 1.0)
    return jnp.where(c < 0, 0.5 * (1.0 + c) ** 2, 1.0 - 0.5 * (1.0 - c) ** 2)


def _sigmoid_pdf(u: Array) -> Array:
    return 4.0 * jax.nn.sigmoid(4.0 * u) * jax.nn.sigmoid(-4.0 * u)


def _sigmoid_cdf(u: Array) -> Array:
    return jax.nn.sigmoid(4.0 * u)


def _gauss_pdf(u: Array) -> Array:
    return jnp.exp(-math.pi * u * u)


def _gauss_cdf(u: Array) -> Array:
    return 0.5 * (1.0 + jax.lax.erf(math.sqrt(math.pi) * u))


def _laplace_pdf(u: Array) -> Array:
    return jnp.exp(-2.0 * jnp.abs(u))


def _laplace_cdf(u: Array) -> Array:
    e = jnp.exp(-2.0 * jnp.abs(u))
    return jnp.where(u < 0, 0.5 * e, 1.0 - 0.5 * e)


def _fast_sigmoid_pdf(u: Array) -> Array:
    return 1.0 / (1.0 + 2.0 * jnp.abs(u)) ** 2


def _fast_sigmoid_cdf(u: Array) -> Array:
    return 0.5 + u / (1.0 + 2.0 * jnp.abs(u))


def _single_exp_pdf(u: Array) -> Array:
    return jnp.where(u >= 0, jnp.exp(-jnp.maximum(u, 0.0)), 0.0).astype(u.dtype)


def _single_exp_cdf(u: Array) -> Array:
    return -jnp.expm1(-jnp.maximum(u, 0.0))


def _arctan_pdf(u: Array) -> Array:
    return 1.0 / (1.0 + (math.pi * u) ** 2)


def _arctan_cdf(u: Array) -> Array:
    return 0.5 + jnp.arctan(math.pi * u) / math.pi


def _ste_pdf(u: Array) -> Array:
    return jnp.ones_like(u)


def _ste_cdf(u: Array) -> Array:
    return u + 0.5


_Shape = tuple[Callable[[Array], Array], Callable[[Array], Array]]

_SHAPES: dict[str, _Shape] = {
    "rectangular": (_rect_pdf, _rect_cdf),
    "triangular": (_tri_pdf, _tri_cdf),
    "sigmoid": (_sigmoid_pdf, _sigmoid_cdf),
    "gaussian": (_gauss_pdf, _gauss_cdf),
    "laplace": (_laplace_pdf, _laplace_cdf),
    "fast_sigmoid": (_fast_sigmoid_pdf, _fast_sigmoid_cdf),
    "single_exponential": (_single_exp_pdf, _single_exp_cdf),
    "arctan": (_arctan_pdf, _arctan_cdf),
    "straight_through": (_ste_pdf, _ste_cdf),
}

#: Canonical surrogate names.
SURROGATES: tuple[str, ...] = tuple(_SHAPES)

_ALIASES: dict[str, str] = {
    "boxcar": "rectangular",
    "rect": "rectangular",
    "triangle": "triangular",
    "erf": "gaussian",
    "exponential": "laplace",
    "slayer": "laplace",
    "superspike": "fast_sigmoid",
    "atan": "arctan",
    "ste": "straight_through",
}

#: Default widths: ``DEFAULT_WIDTH`` except ``straight_through`` (1: the identity derivative).
_DEFAULT_WIDTHS: dict[str, float] = {name: DEFAULT_WIDTH for name in SURROGATES} | {
    "straight_through": 1.0
}


def _canonical(name: str) -> str:
    key = str(name).lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in _SHAPES:
        aliases = ", ".join(f"{a} -> {c}" for a, c in sorted(_ALIASES.items()))
        raise ValueError(
            f"unknown surrogate {name!r}; valid names: {', '.join(SURROGATES)} (aliases: {aliases})"
        )
    return key


# --- the custom_jvp spike functions -------------------------------------------------------------


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _spike(sur: SurrogateSpike, x: Array) -> Array:
    return heaviside(x)


@_spike.defjvp
def _spike_jvp(sur: SurrogateSpike, primals: tuple[Array], tangents: tuple[Array]):
    (x,), (dx,) = primals, tangents
    return _spike(sur, x), sur.derivative(x) * dx


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _smooth(sur: SurrogateSpike, x: Array) -> Array:
    return sur.primitive(x)


@_smooth.defjvp
def _smooth_jvp(sur: SurrogateSpike, primals: tuple[Array], tangents: tuple[Array]):
    (x,), (dx,) = primals, tangents
    return _smooth(sur, x), sur.derivative(x) * dx


@dataclass(frozen=True)
class SurrogateSpike:
    """A spike function: Heaviside forward, surrogate derivative ``g`` backward.

    ``S(x) = H(x)`` (``x >= 0`` fires) or, with ``spiking=False``, the smooth primitive
    ``scale * Phi(x / width)``; in both cases ``dS/dx = g(x) = scale / width * phi(x / width)``
    (see the module docstring for the shapes). Implemented with :func:`jax.custom_jvp`, so
    ``jax.jvp``, ``jax.grad``, ``vmap`` and ``jit`` all apply. Hashable: usable as a static
    argument of :func:`jax.jit`.

    Attributes:
        name: one of :data:`SURROGATES`.
        width: ``width > 0``; ``g(0) = scale / width``. In units of threshold when ``relative``.
        scale: total integral of ``g`` over ``x``; ``1`` is normalised.
        relative: ``x = (V - theta) / theta`` if True, else ``x = V - theta``.
        label: a description (which preset it reproduces); ignored in comparisons.
    """

    name: str = "fast_sigmoid"
    width: float = DEFAULT_WIDTH
    scale: float = 1.0
    relative: bool = True
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _canonical(self.name))
        width, scale = float(self.width), float(self.scale)
        if not (math.isfinite(width) and width > 0):
            raise ValueError(f"width = {self.width!r} must be finite and > 0")
        if not math.isfinite(scale):
            raise ValueError(f"scale = {self.scale!r} must be finite")
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "relative", bool(self.relative))

    @property
    def normalised(self) -> bool:
        """True if ``g`` integrates to 1 over ``x`` (``scale == 1``, not straight-through)."""
        return self.scale == 1.0 and self.name != "straight_through"

    def argument(self, v: ArrayLike, theta: ArrayLike) -> Array:
        """``x`` from potential and threshold: ``(v - theta) / theta`` or ``v - theta``."""
        v, theta = jnp.asarray(v), jnp.asarray(theta)
        return (v - theta) / theta if self.relative else v - theta

    def derivative(self, x: ArrayLike) -> Array:
        """The surrogate derivative ``g(x) = scale / width * phi(x / width)``."""
        x = jnp.asarray(x)
        pdf = _SHAPES[self.name][0]
        return (self.scale / self.width) * pdf(x / self.width)

    def primitive(self, x: ArrayLike) -> Array:
        """The smooth primitive ``scale * Phi(x / width)`` (plain JAX, autodiff gives ``g``)."""
        x = jnp.asarray(x)
        cdf = _SHAPES[self.name][1]
        return self.scale * cdf(x / self.width)

    def __call__(self, x: ArrayLike, spiking: bool = True) -> Array:
        """``H(x)`` (or the primitive if not ``spiking``) with derivative ``g(x)``."""
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        return _spike(self, x) if spiking else _smooth(self, x)

    def spike(self, v: ArrayLike, theta: ArrayLike, spiking: bool = True) -> Array:
        """The spike at potential ``v`` and threshold ``theta``: ``S(argument(v, theta))``."""
        return self(self.argument(v, theta), spiking)

    def __repr__(self) -> str:
        extra = f", label={self.label!r}" if self.label else ""
        return (
            f"SurrogateSpike(name={self.name!r}, width={self.width!r}, scale={self.scale!r}, "
            f"relative={self.relative!r}{extra})"
        )


# --- presets ------------------------------------------------------------------------------------


def _snntorch_fast_sigmoid(slope: float = 25.0) -> dict[str, Any]:
    # snnTorch surrogate.fast_sigmoid: dS/dy = 1 / (1 + slope |y|)^2, y = V - theta
    return {"width": 2.0 / slope, "scale": 2.0 / slope, "relative": False}


def _snntorch_sigmoid(slope: float = 25.0) -> dict[str, Any]:
    # snnTorch surrogate.sigmoid: dS/dy = slope s(slope y) s(-slope y), y = V - theta
    return {"width": 4.0 / slope, "scale": 1.0, "relative": False}


def _snntorch_atan(alpha: float = 2.0) -> dict[str, Any]:
    # snnTorch surrogate.atan: dS/dy = (alpha / 2) / (1 + (pi alpha y / 2)^2), y = V - theta
    return {"width": 2.0 / alpha, "scale": 1.0, "relative": False}


def _unit_ste() -> dict[str, Any]:
    # snnTorch straight_through_estimator, spyx custom() default: dS/dy = 1
    return {"width": 1.0, "scale": 1.0, "relative": False}


def _spyx_superspike(k: float = 25.0) -> dict[str, Any]:
    # spyx axn.superspike: dS/dy = 1 / (1 + k |y|)^2
    return {"width": 2.0 / k, "scale": 2.0 / k, "relative": False}


def _spyx_arctan(k: float = 2.0) -> dict[str, Any]:
    # spyx axn.arctan: dS/dy = 1 / (pi (1 + (k pi y)^2))  (integral 1 / (k pi))
    return {"width": 1.0 / k, "scale": 1.0 / (k * math.pi), "relative": False}


def _spyx_triangular(k: float = 2.0) -> dict[str, Any]:
    # spyx axn.triangular: dS/dy = max(0, 1 - |k y|)
    return {"width": 1.0 / k, "scale": 1.0 / k, "relative": False}


def _spyx_boxcar(width: float = 2.0, height: float = 0.5) -> dict[str, Any]:
    # spyx axn.boxcar: dS/dy = height for |y| <= width / 2
    return {"width": width, "scale": height * width, "relative": False}


def _spyx_tanh(k: float = 1.0) -> dict[str, Any]:
    # spyx axn.tanh: dS/dy = 4 / (e^{-k y} + e^{k y})^2 = sech^2(k y) = 4 s'(2 k y)
    return {"width": 2.0 / k, "scale": 2.0 / k, "relative": False}


def _norse_superspike(alpha: float = 100.0) -> dict[str, Any]:
    # Norse superspike / super_fn: dS/dy = 1 / (1 + alpha |y|)^2, y = v - v_th
    return {"width": 2.0 / alpha, "scale": 2.0 / alpha, "relative": False}


def _slayer_exponential(tau_rho: float = 1.0, scale_rho: float = 1.0) -> dict[str, Any]:
    # SLAYER (slayerPytorch spikeFunction): dS/dV = scaleRho / (tauRho theta)
    #   * exp(-|V - theta| / (tauRho theta)); in x = (V - theta) / theta: scaleRho / tauRho
    #   * exp(-|x| / tauRho), i.e. width 2 tauRho and integral 2 scaleRho.
    return {"width": 2.0 * tau_rho, "scale": 2.0 * scale_rho, "relative": True}


#: ``{library: {surrogate name: factory(**library parameters) -> SurrogateSpike fields}}``.
PRESETS: dict[str, dict[str, Callable[..., dict[str, Any]]]] = {
    "snntorch": {
        "fast_sigmoid": _snntorch_fast_sigmoid,
        "sigmoid": _snntorch_sigmoid,
        "arctan": _snntorch_atan,
        "straight_through": _unit_ste,
    },
    "spyx": {
        "fast_sigmoid": _spyx_superspike,
        "arctan": _spyx_arctan,
        "triangular": _spyx_triangular,
        "rectangular": _spyx_boxcar,
        "sigmoid": _spyx_tanh,
        "straight_through": _unit_ste,
    },
    "norse": {"fast_sigmoid": _norse_superspike},
    "slayer": {"laplace": _slayer_exponential},
}


def _preset_table() -> str:
    return "; ".join(f"{lib}: {', '.join(names)}" for lib, names in PRESETS.items())


def get_surrogate(
    name: str | SurrogateSpike = "fast_sigmoid",
    *,
    width: float | None = None,
    scale: float = 1.0,
    relative: bool | None = None,
    preset: str | None = None,
    **library_params: float,
) -> SurrogateSpike:
    """A surrogate spike function by name, normalised by default or with a library's scaling.

    Args:
        name: a canonical name of :data:`SURROGATES` or an alias (``boxcar``, ``superspike``,
            ``atan``, ``slayer``/``exponential``, ``erf``, ``ste``, ...). A
            :class:`SurrogateSpike` is returned unchanged (then no other argument may be given).
        width: the width ``g(0) = scale / width`` in units of threshold (default
            :data:`DEFAULT_WIDTH`, 1 for ``straight_through``). Not allowed with ``preset``.
        scale: integral of the derivative (1: normalised). Not allowed with ``preset``.
        relative: ``x = (V - theta) / theta`` (True, the default) or ``V - theta``. Not allowed
            with ``preset``.
        preset: ``"snntorch"``, ``"spyx"``, ``"norse"`` or ``"slayer"``: reproduce that
            library's surrogate of the same shape, exactly (in ``V``), with its default
            parameters unless overridden by ``library_params`` in the library's own names:

            ===========  =====================  ===============================================
            preset       name                   library parameters (defaults)
            ===========  =====================  ===============================================
            snntorch     fast_sigmoid           ``slope=25``: 1 / (1 + slope |V - theta|)^2
            snntorch     sigmoid                ``slope=25``: slope s(slope y) s(-slope y)
            snntorch     arctan                 ``alpha=2``: (alpha/2) / (1 + (pi alpha y/2)^2)
            snntorch     straight_through       derivative 1
            spyx         fast_sigmoid           ``k=25`` (``superspike``), as snnTorch's
            spyx         arctan                 ``k=2``: 1 / (pi (1 + (k pi y)^2))
            spyx         triangular             ``k=2``: max(0, 1 - |k y|)
            spyx         rectangular            ``width=2, height=0.5`` (``boxcar``)
            spyx         sigmoid                ``k=1`` (``tanh``): sech^2(k y)
            spyx         straight_through       derivative 1 (``custom()`` default)
            norse        fast_sigmoid           ``alpha=100`` (``superspike``), as snnTorch's
            slayer       laplace                ``tau_rho=1, scale_rho=1``: scale_rho /
                                                (tau_rho theta) exp(-|y| / (tau_rho theta))
            ===========  =====================  ===============================================

            with ``y = V - theta``. Only SLAYER scales with the threshold (``relative=True``).
        library_params: parameters of the preset (see the table).

    Raises:
        ValueError: unknown name or preset (the message lists the valid ones), or arguments that
            do not apply.
    """
    if isinstance(name, SurrogateSpike):
        extra = width is not None or relative is not None or scale != 1.0
        if extra or preset is not None or library_params:
            raise ValueError("get_surrogate: pass either a SurrogateSpike or a name with options")
        return name
    canonical = _canonical(name)
    if preset is None:
        if library_params:
            raise ValueError(
                f"get_surrogate: unexpected arguments {sorted(library_params)} (library "
                "parameters need preset=...)"
            )
        w = _DEFAULT_WIDTHS[canonical] if width is None else width
        return SurrogateSpike(canonical, w, scale, True if relative is None else relative)
    lib = str(preset).lower()
    if lib not in PRESETS or canonical not in PRESETS[lib]:
        raise ValueError(
            f"no preset {preset!r} for surrogate {canonical!r}; valid presets: {_preset_table()}"
        )
    if width is not None or scale != 1.0 or relative is not None:
        raise ValueError(
            "get_surrogate: a preset sets width, scale and relative; pass its own parameters"
        )
    factory = PRESETS[lib][canonical]
    try:
        fields = factory(**library_params)
    except TypeError as exc:
        raise ValueError(f"preset {lib}/{canonical}: {exc}") from None
    params = ", ".join(f"{k}={v}" for k, v in library_params.items())
    return SurrogateSpike(canonical, **fields, label=f"{lib} {canonical}({params})")
