"""An independent simulation of a NIR graph by NIR's own equations (for tests/test_nir.py).

It reads nothing of fpgrad: spikes are impulses that travel the graph's edges (a Linear or
Affine node multiplies them by its matrix, Scale by its factors, Delay shifts each channel),
an Affine bias is a constant signal (through Scale nodes), and the neuron nodes integrate, in
the graph's own time unit,

    CubaLIF:  tau_syn I' = -I + w_in S,   tau_mem v' = v_leak - v + r I
    LIF:      tau v' = v_leak - v + r I          (I = S + bias)
    IF:       v' = r I                           (I = S + bias)

with ``S`` a sum of deltas (an impulse of size ``a`` makes ``I`` jump by ``w_in a / tau_syn``,
or ``v`` by ``r a / tau`` resp. ``r a``), from ``v = I = 0``, spiking when ``v > v_threshold``
and resetting to ``v_reset``. Between impulses the ODE is integrated by scipy's DOP853 at
``rtol = 1e-12`` with event detection of the threshold crossings.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

NEURONS = ("CubaLIF", "LIF", "IF")


class Oracle:
    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.kind = {name: type(node).__name__ for name, node in graph.nodes.items()}
        self.out = {name: [] for name in graph.nodes}
        for src, dst in graph.edges:
            self.out[src].append(dst)
        self.neurons = [n for n in graph.nodes if self.kind[n] in NEURONS]
        self.offset, total = {}, 0
        for name in self.neurons:
            self.offset[name] = total
            total += len(graph.nodes[name].v_threshold)
        self.n = total
        self.const = np.zeros(total)  # the constant input I of each LIF/IF neuron
        for name, kind in self.kind.items():
            if kind == "Affine":
                for dst in self.out[name]:
                    self._bias(dst, np.array(graph.nodes[name].bias, dtype=float))

    def _bias(self, node: str, value: np.ndarray) -> None:
        kind = self.kind[node]
        if kind == "Scale":
            for dst in self.out[node]:
                self._bias(dst, value * self.graph.nodes[node].scale)
        elif kind in ("LIF", "IF"):
            lo = self.offset[node]
            self.const[lo : lo + value.size] += value
        elif np.any(value):
            raise ValueError(f"oracle: a bias into {kind}")

    def _impulses(self, node: str, t: float, amp: np.ndarray, out: list) -> None:
        """Push an impulse ``amp`` (a vector over ``node``'s input channels) at time ``t``."""
        kind = self.kind[node]
        nd = self.graph.nodes[node]
        if kind in NEURONS:
            out.append((t, node, amp))
        elif kind in ("Linear", "Affine"):
            for dst in self.out[node]:
                self._impulses(dst, t, nd.weight @ amp, out)
        elif kind == "Scale":
            for dst in self.out[node]:
                self._impulses(dst, t, nd.scale * amp, out)
        elif kind == "Delay":
            for ch in np.flatnonzero(amp):
                one = np.zeros_like(amp)
                one[ch] = amp[ch]
                for dst in self.out[node]:
                    self._impulses(dst, t + float(nd.delay[ch]), one, out)

    def _emit(self, node: str, channel: int, t: float, size: int, queue: list, count: list):
        amp = np.zeros(size)
        amp[channel] = 1.0
        arrivals: list = []
        for dst in self.out[node]:
            if self.kind[dst] != "Output":
                self._impulses(dst, t, amp, arrivals)
        for arrival in arrivals:
            count[0] += 1
            heapq.heappush(queue, (arrival[0], count[0], arrival[1], arrival[2]))

    def run(self, inputs: list[list[float]], t_max: float) -> list[tuple[str, int, float]]:
        """``(node, channel, time)`` of every neuron spike on ``[0, t_max]``, sorted by time."""
        g = self.graph
        field = {f: np.zeros(self.n) for f in ("thr", "reset", "tau_syn", "tau", "r", "leak")}
        field["w_in"] = np.zeros(self.n)
        kind_of = np.empty(self.n, dtype=object)
        for name in self.neurons:
            nd, lo = g.nodes[name], self.offset[name]
            sl = slice(lo, lo + len(nd.v_threshold))
            kind_of[sl] = self.kind[name]
            field["thr"][sl], field["reset"][sl], field["r"][sl] = nd.v_threshold, nd.v_reset, nd.r
            if self.kind[name] == "CubaLIF":
                field["tau_syn"][sl], field["tau"][sl] = nd.tau_syn, nd.tau_mem
                field["leak"][sl], field["w_in"][sl] = nd.v_leak, nd.w_in
            elif self.kind[name] == "LIF":
                field["tau"][sl], field["leak"][sl] = nd.tau, nd.v_leak
        cuba = kind_of == "CubaLIF"
        lif = kind_of == "LIF"
        # one state vector: v (n), then I (n; only CubaLIF's is used)
        n = self.n

        def rhs(_t, y):
            v, cur = y[:n], y[n:]
            dv = np.where(kind_of == "IF", field["r"] * self.const, 0.0)
            tau = np.where(field["tau"] > 0, field["tau"], 1.0)
            dv = np.where(lif, (field["leak"] - v + field["r"] * self.const) / tau, dv)
            dv = np.where(cuba, (field["leak"] - v + field["r"] * cur) / tau, dv)
            tau_syn = np.where(cuba, field["tau_syn"], 1.0)
            return np.concatenate([dv, np.where(cuba, -cur / tau_syn, 0.0)])

        def crossing(i):
            def event(_t, y):
                return y[i] - field["thr"][i]

            event.terminal = True
            event.direction = 1
            return event

        events = [crossing(i) for i in range(n)]
        queue: list = []
        count = [0]
        name_in = next(nm for nm, k in self.kind.items() if k == "Input")
        for j, train in enumerate(inputs):
            for t in train:
                self._emit(name_in, j, float(t), len(inputs), queue, count)
        y = np.zeros(2 * n)
        t = 0.0
        spikes: list[tuple[str, int, float]] = []
        owner = [(name, i) for name in self.neurons for i in range(len(g.nodes[name].v_threshold))]
        while t < t_max:
            t_next = min(queue[0][0], t_max) if queue else t_max
            if t_next > t:
                sol = solve_ivp(
                    rhs, (t, t_next), y, method="DOP853", rtol=1e-12, atol=1e-15, events=events
                )
                y, t = sol.y[:, -1].copy(), float(sol.t[-1])
                if sol.status == 1:  # a crossing
                    i = next(k for k, ev in enumerate(sol.t_events) if len(ev))
                    self._spike(i, t, y, field, owner, spikes, queue, count)
                    continue
            while queue and queue[0][0] <= t_next and t_next <= t_max:
                _, _, node, amp = heapq.heappop(queue)
                lo = self.offset[node]
                sl = slice(lo, lo + amp.size)
                if self.kind[node] == "CubaLIF":
                    y[n + lo : n + lo + amp.size] += field["w_in"][sl] * amp / field["tau_syn"][sl]
                elif self.kind[node] == "LIF":
                    y[sl] += field["r"][sl] * amp / field["tau"][sl]
                else:
                    y[sl] += field["r"][sl] * amp
                for i in range(lo, lo + amp.size):
                    if not cuba[i] and y[i] > field["thr"][i]:
                        self._spike(i, t_next, y, field, owner, spikes, queue, count)
            t = t_next
        return sorted(spikes, key=lambda s: s[2])

    def _spike(self, i, t, y, field, owner, spikes, queue, count):
        name, ch = owner[i]
        spikes.append((name, ch, t))
        y[i] = field["reset"][i]
        self._emit(name, ch, t, len(self.graph.nodes[name].v_threshold), queue, count)
