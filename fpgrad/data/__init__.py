"""Datasets for training spiking networks, and their latency coding into input spike trains.

* :func:`load_yinyang`: the Yin-Yang dataset (Kriener, Göltz & Petrovici 2021), the published
  train / validation / test arrays reproduced value for value (4 features).
* :func:`load_digits`: scikit-learn's bundled 8x8 digits, seeded stratified splits (64 features).
* :func:`load_mnist1d`: MNIST-1D (Greydanus 2020) from its pinned reference generator, a seeded
  stratified validation split (40-point sequences, 10 classes).
* :class:`Dataset`: features in ``[0, 1]`` and labels; :meth:`Dataset.encode` turns them into
  one spike per feature at ``t_early + (1 - v) (t_late - t_early)`` ms plus a bias spike, ready
  for ``fpgrad.Problem`` and ``fpgrad.simulate_batch``.
* :class:`SequenceDataset`: a :class:`Dataset` of sequences in time; its :meth:`~Dataset.encode`
  is the level-crossing coding :func:`encode_level_crossings` (position = time, ``2 N`` channels
  for the upward and downward crossings of ``N`` amplitude levels, plus the bias).
* :func:`encode_latency`, :func:`latency_times`, :func:`minmax_scale`, :func:`minmax_bounds`:
  the same coding for any array data.
"""

from ._dataset import Dataset as Dataset
from ._digits import DIGITS_FRACTIONS as DIGITS_FRACTIONS
from ._digits import DIGITS_SPLITS as DIGITS_SPLITS
from ._digits import digits_split_indices as digits_split_indices
from ._digits import load_digits as load_digits
from ._encoding import DEFAULT_BIAS_TIME as DEFAULT_BIAS_TIME
from ._encoding import DEFAULT_T_EARLY as DEFAULT_T_EARLY
from ._encoding import DEFAULT_T_LATE as DEFAULT_T_LATE
from ._encoding import encode_latency as encode_latency
from ._encoding import latency_times as latency_times
from ._encoding import minmax_bounds as minmax_bounds
from ._encoding import minmax_scale as minmax_scale
from ._mnist1d import MNIST1D_SPLITS as MNIST1D_SPLITS
from ._mnist1d import MNIST1D_VALIDATION_FRACTION as MNIST1D_VALIDATION_FRACTION
from ._mnist1d import MNIST1D_VERSION as MNIST1D_VERSION
from ._mnist1d import load_mnist1d as load_mnist1d
from ._mnist1d import mnist1d_arrays as mnist1d_arrays
from ._sequence import SequenceDataset as SequenceDataset
from ._sequence import crossing_levels as crossing_levels
from ._sequence import encode_level_crossings as encode_level_crossings
from ._yinyang import YINYANG_CLASS_NAMES as YINYANG_CLASS_NAMES
from ._yinyang import YINYANG_R_BIG as YINYANG_R_BIG
from ._yinyang import YINYANG_R_SMALL as YINYANG_R_SMALL
from ._yinyang import YINYANG_SPLITS as YINYANG_SPLITS
from ._yinyang import generate_yinyang as generate_yinyang
from ._yinyang import load_yinyang as load_yinyang
from ._yinyang import yinyang_class as yinyang_class

__all__ = [
    "DEFAULT_BIAS_TIME",
    "DEFAULT_T_EARLY",
    "DEFAULT_T_LATE",
    "DIGITS_FRACTIONS",
    "DIGITS_SPLITS",
    "MNIST1D_SPLITS",
    "MNIST1D_VALIDATION_FRACTION",
    "MNIST1D_VERSION",
    "YINYANG_CLASS_NAMES",
    "YINYANG_R_BIG",
    "YINYANG_R_SMALL",
    "YINYANG_SPLITS",
    "Dataset",
    "SequenceDataset",
    "crossing_levels",
    "digits_split_indices",
    "encode_latency",
    "encode_level_crossings",
    "generate_yinyang",
    "latency_times",
    "load_digits",
    "load_mnist1d",
    "load_yinyang",
    "minmax_bounds",
    "minmax_scale",
    "mnist1d_arrays",
    "yinyang_class",
]
