"""Training spiking classifiers with exact or surrogate gradients (minibatch optax, metrics,
checkpoints).

* :func:`train` with a :class:`TrainConfig` and a gradient method object, any
  :class:`fpgrad.GradientMethod` (:class:`fpgrad.ExactReverse` by default, whose batch entry is a
  fused Numba loop; ``fpgrad.discrete.Surrogate(dt, dtype="float32", batch_pad=batch_size)`` for
  surrogate-gradient BPTT on the time grid);
* :class:`Classifier`, :class:`Params`, :func:`init_params`: the layered LIF model;
  :data:`LEARNABLE`: the parameter groups ``TrainConfig.learn`` may name (weights by default;
  thresholds, time constants, delays, biases, reset values, refractory periods), each projected
  back into its domain after every step (:func:`project`, see :mod:`fpgrad.train._loop`);
* :func:`learnable_by`: a config without the groups a method cannot learn (the surrogate keeps
  a task's learned delays at their initial draw);
* :func:`save_checkpoint`, :func:`load_checkpoint`: NPZ checkpoints; :func:`load_task`: the
  built-in tasks (the ``fpgrad train`` command is :mod:`fpgrad.cli.train`).

Training notes (see ``tests/test_train.py`` for the small checks). The package defaults
(:class:`TrainConfig`, used by the digits task) are a time-to-first-spike network:
``tau_syn = 5``, ``tau_mem = 10`` ms, ``theta = 1``, inputs latency-coded on ``[0, 10]`` ms plus
a bias spike at 0, one spike per neuron (``t_ref = 1000`` ms), horizon 30 ms, loss
:class:`fpgrad.FirstSpikeCrossEntropy` with its defaults, Adam ``lr = 1e-3`` decayed by 0.95 per
epoch, 40 epochs, batch 32, bumping of silent output and hidden neurons (see
:mod:`fpgrad.train._loop`). The Yin-Yang task overrides them with EventProp's setting,
learned delays and parameter averaging, the MNIST-1D task (a temporal one) with learned delays
(:data:`TASKS`).
Exact gradients were checked against finite directions of the loss on trained networks. Three
things matter for stability: silent neurons (they get no exact gradient; bumping revives them),
heavy-tailed per-sample gradients near grazing crossings (``TrainConfig.sample_clip`` bounds
them; off by default) and the epoch-to-epoch jitter of the iterate late in training
(``TrainConfig.ema`` averages it out). Measured accuracies and times
for both methods: README, "Training".
"""

from ._checkpoint import Checkpoint as Checkpoint
from ._checkpoint import load_checkpoint as load_checkpoint
from ._checkpoint import save_checkpoint as save_checkpoint
from ._loop import EvalResult as EvalResult
from ._loop import TrainConfig as TrainConfig
from ._loop import TrainResult as TrainResult
from ._loop import check_learn as check_learn
from ._loop import evaluate as evaluate
from ._loop import learnable_by as learnable_by
from ._loop import make_optimizer as make_optimizer
from ._loop import project as project
from ._loop import train as train
from ._model import LEARNABLE as LEARNABLE
from ._model import Classifier as Classifier
from ._model import Params as Params
from ._model import init_params as init_params
from ._tasks import TASKS as TASKS
from ._tasks import Task as Task
from ._tasks import load_task as load_task
