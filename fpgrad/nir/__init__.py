"""NIR (the Neuromorphic Intermediate Representation) graphs in and out of fpgrad.

* :func:`read_nir` / :func:`from_nir`: a NIR graph (``Input``, ``Output``, ``Linear``,
  ``Affine``, ``Scale``, ``Delay``, ``CubaLIF``, ``LIF``, ``IF``; feedforward or recurrent) as
  an fpgrad network (model 2), with :meth:`NIRNetwork.nir_gradient`, the gradient in the
  graph's own parameters.
* :func:`to_nir`: an fpgrad network as a NIR graph that reads back bit for bit.

The mapping, its unit bookkeeping and what is rejected and why: docs/model.md §6. Needs the
``nir`` extra (``pip install fpgrad[nir]``).
"""

from ._export import to_nir as to_nir
from ._mapping import NIRNetwork as NIRNetwork
from ._mapping import from_nir as from_nir
from ._mapping import read_nir as read_nir
from ._nodes import TIME_UNITS as TIME_UNITS
