"""Exact gradients of spike times: forward propagation (FP: Jacobians and Jacobian-vector
products) and reverse mode."""

from ._exact import SpikeJacobian as SpikeJacobian
from ._exact import SpikeJVP as SpikeJVP
from ._exact import spike_jacobian as spike_jacobian
from ._exact import spike_jvp as spike_jvp
from ._exact import spike_vjp as spike_vjp
from ._params import GROUPS as GROUPS
from ._params import Gradients as Gradients
from ._params import parameter_values as parameter_values
from ._params import with_parameter as with_parameter
