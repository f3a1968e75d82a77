"""Datasets for training spiking networks, and their latency coding into input spike trains.

* :func:`load_yinyang`: the Yin-Yang dataset (Kriener, Göltz & Petrovici 2021), the published
  train / validation / test arrays reproduced value for value (4 features).
* :func:`load_digits`: scikit-learn's bundled 8x8 digits, seeded stratified splits (64 features).
* :class:`Dataset`: features in ``[0, 1]`` and labels; :meth:`Dataset.encode` turns them into
  one spike per feature at ``t_early + (1 - v) (t_late - t_early)`` ms plus a bias spike, ready
  for ``fpgrad.Problem`` and ``fpgrad.simulate_batch``.
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
    "YINYANG_CLASS_NAMES",
    "YINYANG_R_BIG",
    "YINYANG_R_SMALL",
    "YINYANG_SPLITS",
    "Dataset",
    "digits_split_indices",
    "encode_latency",
    "generate_yinyang",
    "latency_times",
    "load_digits",
    "load_yinyang",
    "minmax_bounds",
    "minmax_scale",
    "yinyang_class",
]
