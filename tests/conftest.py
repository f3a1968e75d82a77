"""Shared test configuration: hypothesis profiles, JAX float64 and strict dtype promotion."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "dev", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

try:  # exactness comparisons with JAX need float64 everywhere; no silent dtype promotion
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_dtype_promotion", "strict")
except ImportError:  # pragma: no cover - JAX is a dev dependency
    pass
