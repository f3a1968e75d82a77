"""Tools to check gradients: gradcheck against finite differences, external gradients, and
hypothesis strategies (:mod:`fpgrad.testing.strategies`, needs ``hypothesis``).

* :func:`gradcheck` / :func:`assert_gradients_close`: exact (or any) gradients against
  step-selected Richardson finite differences, per parameter group, with a verdict and the
  degeneracy margins; the report's ``repr`` is a table.
* :func:`compare_external`: a gradient computed elsewhere (another framework, a surrogate)
  against the exact one: cosine similarity and relative error per group.
* :func:`finite_difference` / :class:`SelectedStepFiniteDifference`: the reference itself.
"""

from ._external import ExternalComparison as ExternalComparison
from ._external import ExternalGroup as ExternalGroup
from ._external import compare_external as compare_external
from ._gradcheck import DEFAULT_ATOL as DEFAULT_ATOL
from ._gradcheck import DEFAULT_FD_STEPS as DEFAULT_FD_STEPS
from ._gradcheck import DEFAULT_MARGIN as DEFAULT_MARGIN
from ._gradcheck import DEFAULT_RTOL as DEFAULT_RTOL
from ._gradcheck import FDEstimate as FDEstimate
from ._gradcheck import GradcheckReport as GradcheckReport
from ._gradcheck import GroupComparison as GroupComparison
from ._gradcheck import SelectedStepFiniteDifference as SelectedStepFiniteDifference
from ._gradcheck import as_gradients as as_gradients
from ._gradcheck import assert_gradients_close as assert_gradients_close
from ._gradcheck import finite_difference as finite_difference
from ._gradcheck import gradcheck as gradcheck
from ._selftest import run_selftest as run_selftest
