"""The built-in example that ``make demo`` runs."""

from __future__ import annotations

import json
from pathlib import Path

from ._io import problem_from_dict, save_problem
from .event import simulate

__all__ = ["EXAMPLE_PROBLEM", "run_demo"]

#: The example of DESIGN.md §3: two inputs, three neurons, a chain with inhibition at the end.
EXAMPLE_PROBLEM = {
    "format": "fpgrad-problem/1",
    "t_max": 40.0,
    "tau_syn": 5.0,
    "neurons": {"count": 3, "tau_mem": 10.0, "threshold": [1.0, 1.0, 0.8]},
    "inputs": [[1.0, 4.5], [2.25]],
    "synapses": {"pre": [0, 1, 2, 3], "post": [2, 2, 3, 4], "weight": [0.4, 0.3, 0.9, -0.2]},
}


def run_demo(out_dir: str) -> int:
    """Simulate the example, print its spikes and degeneracy report, save problem and spikes."""
    problem = problem_from_dict(EXAMPLE_PROBLEM)
    result = simulate(problem)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    save_problem(problem, folder / "example_problem.json")
    (folder / "example_spikes.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    print(
        f"example network: {problem.network.n_inputs} inputs, {problem.network.n_neurons} neurons"
    )
    print(f"{'node':>5} {'time (ms)':>22}")
    for node, time in zip(result.spike_node, result.spike_time, strict=True):
        print(f"{node:>5} {time:>22.16f}")
    print("degeneracy report:", json.dumps(result.degeneracy.to_dict()))
    print(f"saved to {folder.resolve()}")
    return 0
