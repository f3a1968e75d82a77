"""Tools to check gradients: gradcheck against finite differences, external gradients, and
hypothesis strategies (:mod:`fpgrad.testing.strategies`, needs ``hypothesis``).

* :func:`gradcheck` / :func:`assert_gradients_close`: exact (or any) gradients against
  step-selected Richardson finite differences, per parameter group, with a verdict and the
  degeneracy margins; the report's ``repr`` is a table.
* :func:`compare_external` / :func:`assert_external_close`: a gradient computed elsewhere
  (another framework, a hand-written adjoint) against the exact one, with a verdict at a
  documented default tolerance: cosine similarity, relative error, sign agreement per group.
* :func:`compare_nir` / :func:`assert_nir_close`: the same for a gradient of a NIR graph keyed
  by NIR's names (``"node.field"``), from another framework (needs the ``nir`` extra).
* :func:`finite_difference`: the reference itself (also :class:`fpgrad.FiniteDifference`).
"""

from .._finite_difference import DEFAULT_FD_STEPS as DEFAULT_FD_STEPS
from .._finite_difference import FDEstimate as FDEstimate
from .._finite_difference import finite_difference as finite_difference
from ._external import DEFAULT_EXTERNAL_RTOL as DEFAULT_EXTERNAL_RTOL
from ._external import ExternalComparison as ExternalComparison
from ._external import ExternalGroup as ExternalGroup
from ._external import assert_external_close as assert_external_close
from ._external import compare_external as compare_external
from ._gradcheck import DEFAULT_ATOL as DEFAULT_ATOL
from ._gradcheck import DEFAULT_MARGIN as DEFAULT_MARGIN
from ._gradcheck import DEFAULT_RTOL as DEFAULT_RTOL
from ._gradcheck import GradcheckReport as GradcheckReport
from ._gradcheck import GroupComparison as GroupComparison
from ._gradcheck import as_gradients as as_gradients
from ._gradcheck import assert_gradients_close as assert_gradients_close
from ._gradcheck import gradcheck as gradcheck
from ._nir import NIRComparison as NIRComparison
from ._nir import assert_nir_close as assert_nir_close
from ._nir import compare_nir as compare_nir
from ._selftest import run_selftest as run_selftest
