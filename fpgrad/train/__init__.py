"""Training spiking classifiers with exact or surrogate gradients (minibatch optax, metrics,
checkpoints).

* :func:`train` with a :class:`TrainConfig` and a gradient method object (:class:`ExactMethod`
  by default; :class:`SurrogateMethod` for surrogate-gradient BPTT on the time grid; anything
  following :class:`TrainMethod`, e.g. :class:`GradientBatchMethod` around a per-sample method of
  :func:`fpgrad.gradient`);
* :class:`Classifier`, :class:`Params`, :func:`init_params`: the layered LIF model;
* :func:`save_checkpoint`, :func:`load_checkpoint`: NPZ checkpoints; :func:`load_task`: the
  built-in tasks; :func:`add_train_command`: the ``fpgrad train`` CLI.

Training notes (measured on 2 shared cores; see ``tests/test_train.py`` for the small checks).
The default model is a time-to-first-spike network: ``tau_syn = 5``, ``tau_mem = 10`` ms,
``theta = 1``, inputs latency-coded on ``[0, 10]`` ms plus a bias spike at 0, one spike per
neuron (``t_ref = 1000`` ms), horizon 30 ms, loss :class:`fpgrad.FirstSpikeCrossEntropy` with
its defaults, Adam ``lr = 1e-3`` decayed by 0.95 per epoch, 40 epochs, batch 32, bumping of silent
output and hidden neurons (see :mod:`fpgrad.train._loop`). Exact gradients were checked against
finite directions of the loss on trained networks. Two things matter for stability: silent
neurons (they get no exact gradient; bumping revives them) and heavy-tailed per-sample
gradients near grazing crossings (``TrainConfig.sample_clip`` bounds them; off by default).
Measured with these defaults (5 seeds): Yin-Yang 5-120-3 test accuracy 94.6 +- 1.0 % at the
best-validation checkpoint (92.7 +- 2.6 % after the last epoch), about 1.5-2 s per epoch of
5000 samples; digits 65-100-10 (12 epochs, lr decay 0.9) 90.4 +- 0.8 % after the last epoch.

Surrogate gradients (:class:`SurrogateMethod`: grid ``dt = 0.25`` ms, fast sigmoid of width 0.1,
float32), measured with the Yin-Yang task defaults (5-200-3 plain LIF, EventProp's constants,
80 epochs; ``fpgrad train yinyang --method surrogate --seed S``, 5 seeds): test accuracy
97.0 +- 0.4 % after the last epoch, 97.1 +- 0.1 % at the best-validation epoch, about 4 s per
5000-sample epoch (median; 2 cores shared with other jobs); the same parameters simulated exactly
reach 94.7 +- 1.6 %. ``dt = 0.1`` ms trained no better in short probes at about 5 times the cost.
"""

from ._checkpoint import Checkpoint as Checkpoint
from ._checkpoint import load_checkpoint as load_checkpoint
from ._checkpoint import save_checkpoint as save_checkpoint
from ._cli import add_train_command as add_train_command
from ._fast import EncodedInputs as EncodedInputs
from ._fast import encode_inputs as encode_inputs
from ._fast import fast_batch as fast_batch
from ._loop import EvalResult as EvalResult
from ._loop import TrainConfig as TrainConfig
from ._loop import TrainResult as TrainResult
from ._loop import evaluate as evaluate
from ._loop import make_optimizer as make_optimizer
from ._loop import train as train
from ._methods import ExactMethod as ExactMethod
from ._methods import GradientBatchMethod as GradientBatchMethod
from ._methods import LossConfig as LossConfig
from ._methods import StepResult as StepResult
from ._methods import TrainMethod as TrainMethod
from ._model import Classifier as Classifier
from ._model import Params as Params
from ._model import init_params as init_params
from ._surrogate import SurrogateMethod as SurrogateMethod
from ._tasks import TASKS as TASKS
from ._tasks import Task as Task
from ._tasks import load_task as load_task
