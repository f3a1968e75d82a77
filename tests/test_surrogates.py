"""The surrogate zoo: self-consistency, normalisation, finiteness, presets and the registry."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import roots_legendre

from fpgrad.discrete import (
    DEFAULT_WIDTH,
    PRESETS,
    SURROGATES,
    SurrogateSpike,
    get_surrogate,
    heaviside,
)

NORMALISED = [name for name in SURROGATES if name != "straight_through"]
# kinks of the unit shapes lie at u in {0, +-1/2, +-1}: sample off them
U_GRID = np.linspace(-3.0, 3.0, 601) + 0.00123


def _grid(width: float) -> jnp.ndarray:
    return jnp.asarray(width * U_GRID, jnp.float64)


@pytest.mark.parametrize("name", SURROGATES)
def test_custom_jvp_derivative(name):
    """The custom_jvp derivative equals jax.grad of the smooth primitive, in both forward modes,
    and forward (jvp) and reverse (grad, vmap, jit) mode agree, also through V and theta."""
    sur = get_surrogate(name, width=0.3)

    @jax.jit
    def evaluate(x, tangent, v, theta):
        autodiff = jax.vmap(jax.grad(sur.primitive))(x)  # autodiff of the smooth primitive
        modes = []
        for spiking in (True, False):
            primal, jvp_out = jax.jvp(lambda u, s=spiking: sur(u, s), (x,), (tangent,))
            grad = jax.vmap(jax.grad(lambda u, s=spiking: sur(u, s)))(x)
            modes.append((primal, jvp_out, grad))
        # dS/dV and dS/dtheta of sur.spike(V, theta), reverse and forward
        grads = jax.grad(sur.spike, argnums=(0, 1))(v, theta)
        one, zero = jnp.ones_like(v), jnp.zeros_like(v)
        jvps = (
            jax.jvp(sur.spike, (v, theta), (one, zero))[1],
            jax.jvp(sur.spike, (v, theta), (zero, one))[1],
        )
        return autodiff, sur.derivative(x), modes, grads, jvps

    x = _grid(sur.width)
    tangent = jnp.linspace(-1.0, 2.0, x.size)
    v, theta = jnp.asarray(0.93), jnp.asarray(1.1)
    autodiff, derivative, modes, (gv, gt), (jv, jt) = evaluate(x, tangent, v, theta)
    tol = 1e-12 / sur.width
    np.testing.assert_allclose(derivative, autodiff, rtol=1e-12, atol=tol)
    for spiking, (primal, jvp_out, grad) in zip((True, False), modes, strict=True):
        np.testing.assert_allclose(grad, autodiff, rtol=1e-12, atol=tol)
        np.testing.assert_allclose(jvp_out, grad * tangent, rtol=1e-13, atol=tol)
        np.testing.assert_allclose(primal, sur(x, spiking), rtol=1e-14, atol=1e-15)
    assert set(np.unique(modes[0][0])) <= {0.0, 1.0}  # Heaviside forward
    x0 = (v - theta) / theta
    np.testing.assert_allclose([gv, jv], sur.derivative(x0) / theta, rtol=1e-14)
    np.testing.assert_allclose([gt, jt], -sur.derivative(x0) * v / theta**2, rtol=1e-14)


_NODES, _WEIGHTS = roots_legendre(2000)


def _gauss_legendre(f, lo: float, hi: float) -> float:
    x = 0.5 * (hi - lo) * _NODES + 0.5 * (hi + lo)
    return 0.5 * (hi - lo) * float(np.dot(_WEIGHTS, np.asarray(f(jnp.asarray(x)))))


def _integral(sur: SurrogateSpike) -> float:
    """Integral of the derivative over x, by Gauss-Legendre quadrature (2000 nodes) on each
    smooth piece: the compact supports piecewise, the real line through x = width tan(phi)."""
    w = sur.width
    if sur.name in ("rectangular", "triangular"):
        kinks = [-1.0, -0.5, 0.0, 0.5, 1.0] if sur.name == "triangular" else [-0.5, 0.5]
        edges = w * np.asarray(kinks)
        return sum(_gauss_legendre(sur.derivative, a, b) for a, b in itertools.pairwise(edges))

    def mapped(phi):
        return sur.derivative(w * jnp.tan(phi)) * w / jnp.cos(phi) ** 2

    return _gauss_legendre(mapped, -math.pi / 2, 0.0) + _gauss_legendre(mapped, 0.0, math.pi / 2)


@pytest.mark.parametrize("name", NORMALISED)
@pytest.mark.parametrize("width", [0.02, 0.3, 2.0])
def test_normalised_surrogates_integrate_to_one(name, width):
    sur = get_surrogate(name, width=width)
    assert sur.normalised
    assert _integral(sur) == pytest.approx(1.0, abs=1e-6)
    # height 1/width at threshold (for the one-sided shape: at the edge of its support)
    assert float(sur.derivative(0.0)) == pytest.approx(1.0 / width, rel=1e-14)


def test_narrowing_width_tends_to_delta():
    def f(x):
        return jnp.cos(3.0 * x) + x

    x = jnp.linspace(-1.0, 1.0, 200_001)
    for name in ("gaussian", "triangular", "laplace"):
        errors = []
        for width in (0.1, 0.01, 0.001):
            g = get_surrogate(name, width=width).derivative(x)
            errors.append(abs(float(jnp.trapezoid(g * f(x), x)) - 1.0))
        assert errors[2] < errors[1] < errors[0] and errors[2] < 1e-4


def test_straight_through_is_constant_and_not_normalised():
    sur = get_surrogate("straight_through")
    assert not sur.normalised and sur.width == 1.0
    x = _grid(1.0)
    np.testing.assert_array_equal(jax.vmap(jax.grad(lambda v: sur(v)))(x), np.ones(x.size))


@pytest.mark.parametrize("name", SURROGATES)
def test_finite_far_from_threshold(name):
    mags = np.concatenate([[0.0], np.logspace(-4, 2, 61)])  # up to |x| = 100
    sur_list = [get_surrogate(name, width=w) for w in (1e-3, 1.0)]
    sur_list += [get_surrogate(name, preset=lib) for lib in PRESETS if name in PRESETS[lib]]
    for dtype in (jnp.float32, jnp.float64):
        x = jnp.asarray(np.concatenate([-mags[::-1], mags]), dtype)
        ones = jnp.ones_like(x)
        for sur in sur_list:
            for spiking in (True, False):
                # elementwise: the forward-mode derivative along ones is the pointwise derivative
                out, grad = jax.jvp(lambda v, s=spiking, f=sur: f(v, s), (x,), (ones,))
                assert out.dtype == dtype and grad.dtype == dtype
                assert bool(jnp.all(jnp.isfinite(out))), (sur, spiking, dtype)
                assert bool(jnp.all(jnp.isfinite(grad))), (sur, spiking, dtype)
                assert bool(jnp.all(grad >= 0))
            if name != "straight_through":
                # the primitive is a CDF scaled by `scale`: non-decreasing from 0 to `scale`
                prim = np.asarray(sur.primitive(x), np.float64)
                assert np.all(np.diff(prim) >= 0) and prim[0] >= 0
                assert prim[-1] <= sur.scale * (1 + 1e-6)


def test_heaviside_convention_at_threshold():
    assert float(heaviside(0.0)) == 1.0
    assert float(heaviside(-1e-300)) == 0.0
    sur = get_surrogate("gaussian")
    theta = jnp.asarray(0.8)
    assert float(sur.spike(theta, theta)) == 1.0  # V >= theta fires
    assert float(sur.spike(jnp.nextafter(theta, 0.0), theta)) == 0.0
    assert float(sur.spike(theta, theta, spiking=False)) == pytest.approx(0.5)


# the libraries' formulas, written from their documentation, in y = V - theta
_LIBRARY_FORMULAS = {
    ("snntorch", "fast_sigmoid", ()): lambda y, th: 1 / (1 + 25 * np.abs(y)) ** 2,
    ("snntorch", "fast_sigmoid", (("slope", 50.0),)): lambda y, th: 1 / (1 + 50 * np.abs(y)) ** 2,
    ("snntorch", "sigmoid", ()): lambda y, th: 25 * np.exp(-25 * y) / (1 + np.exp(-25 * y)) ** 2,
    ("snntorch", "arctan", ()): lambda y, th: 1 / (1 + (np.pi * y) ** 2),
    ("snntorch", "arctan", (("alpha", 4.0),)): lambda y, th: 2 / (1 + (2 * np.pi * y) ** 2),
    ("snntorch", "straight_through", ()): lambda y, th: np.ones_like(y),
    ("spyx", "fast_sigmoid", ()): lambda y, th: 1 / (1 + 25 * np.abs(y)) ** 2,
    ("spyx", "arctan", ()): lambda y, th: 1 / ((1 + (2 * np.pi * y) ** 2) * np.pi),
    ("spyx", "triangular", ()): lambda y, th: np.maximum(0, 1 - np.abs(2 * y)),
    ("spyx", "rectangular", ()): lambda y, th: 0.5 * (np.abs(y) <= 1.0),
    ("spyx", "sigmoid", ()): lambda y, th: 4 / (np.exp(-y) + np.exp(y)) ** 2,
    ("norse", "fast_sigmoid", ()): lambda y, th: 1 / (1 + 100 * np.abs(y)) ** 2,
    ("slayer", "laplace", ()): lambda y, th: 1 / th * np.exp(-np.abs(y) / th),
    ("slayer", "laplace", (("tau_rho", 0.5), ("scale_rho", 3.0))): (
        lambda y, th: 3.0 / (0.5 * th) * np.exp(-np.abs(y) / (0.5 * th))
    ),
}


@pytest.mark.parametrize("key", list(_LIBRARY_FORMULAS), ids=lambda k: f"{k[0]}-{k[1]}-{k[2]}")
def test_presets_reproduce_library_scalings(key):
    lib, name, params = key
    sur = get_surrogate(name, preset=lib, **dict(params))
    theta = 1.7  # the libraries differ in whether the threshold scales the surrogate
    y = np.linspace(-2.0, 2.0, 801) + 0.00071
    dsdv = jax.vmap(jax.grad(sur.spike), in_axes=(0, None))(jnp.asarray(theta + y), theta)
    np.testing.assert_allclose(dsdv, _LIBRARY_FORMULAS[key](y, theta), rtol=1e-12, atol=1e-14)


def test_preset_integrals():
    assert _integral(get_surrogate("arctan", preset="snntorch")) == pytest.approx(1.0, abs=1e-6)
    assert _integral(get_surrogate("sigmoid", preset="snntorch")) == pytest.approx(1.0, abs=1e-6)
    fast = get_surrogate("fast_sigmoid", preset="snntorch")
    assert _integral(fast) == pytest.approx(2 / 25, abs=1e-6) and not fast.normalised
    slayer = get_surrogate("laplace", preset="slayer", scale_rho=0.5)
    assert slayer.relative and slayer.normalised
    assert _integral(slayer) == pytest.approx(1.0, abs=1e-6)


def test_registry():
    assert get_surrogate().name == "fast_sigmoid" and get_surrogate().width == DEFAULT_WIDTH
    assert get_surrogate("SuperSpike") == get_surrogate("fast_sigmoid")
    assert get_surrogate("boxcar").name == "rectangular"
    assert get_surrogate("atan").name == "arctan"
    assert get_surrogate("slayer").name == "laplace"
    sur = get_surrogate("gaussian", width=0.2)
    assert get_surrogate(sur) is sur
    assert hash(sur) == hash(SurrogateSpike("gaussian", 0.2))  # usable as a static jit argument
    with pytest.raises(ValueError, match="valid names: rectangular, triangular, sigmoid"):
        get_surrogate("relu")
    with pytest.raises(ValueError, match="valid presets: snntorch"):
        get_surrogate("gaussian", preset="snntorch")
    with pytest.raises(ValueError, match="valid presets"):
        get_surrogate("fast_sigmoid", preset="keras")
    with pytest.raises(ValueError, match="preset sets width"):
        get_surrogate("fast_sigmoid", preset="norse", width=0.1)
    with pytest.raises(ValueError, match="preset sets width"):
        get_surrogate("laplace", preset="slayer", relative=False)
    assert not get_surrogate("arctan", relative=False).relative
    with pytest.raises(ValueError, match="slope"):
        get_surrogate("fast_sigmoid", preset="norse", slope=3.0)
    with pytest.raises(ValueError, match="need preset"):
        get_surrogate("fast_sigmoid", slope=3.0)
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="width"):
            SurrogateSpike("gaussian", bad)
