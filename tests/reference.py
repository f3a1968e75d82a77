"""An independent high-precision reference simulator (mpmath, 50 digits by default).

This module re-implements the model of docs/model.md §1 from scratch, with no fpgrad internals: it
only reads the public fields of a :class:`fpgrad.Problem` (``network.n_inputs``, ``n_neurons``,
``tau_syn``, ``tau_mem``, ``threshold``, ``t_ref``, ``pre``, ``post``, ``weight``, ``inputs``,
``t_max``). It is slow and simple on purpose; the Numba simulator and the gradient engines are
checked against it.

Model. Every source node ``j`` has a synaptic current ``I_j`` that jumps by 1 at each of its
spikes and decays with ``tau_syn``. Neuron ``i`` integrates ``dV/dt = -V/tau_mem_i + J_i`` with
``J_i = sum_k [post_k = i] w_k I_{pre_k}``, fires when ``V`` reaches ``theta_i`` from below (a
maximum exactly at threshold is not a spike), is reset by ``V -> V - theta_i = 0`` and held at 0
for ``t_ref_i`` while ``J_i`` keeps evolving. Spikes are simulated on ``[0, t_max]``.

Between events, from a state ``(V0, J0)`` and with ``a = 1/tau_syn``, ``b = 1/tau_mem``,

    V(s) = V0 e^{-b s} + J0 H(s),   H(s) = e^{-a s} (1 - e^{-(b-a) s}) / (b - a)  (= s e^{-a s})
    J(s) = J0 e^{-a s}

``V' = J - b V`` vanishes where ``e^{(b-a) s} = (b/a) (1 - (b-a) V0/J0)``: at most one extremum.
A crossing of ``theta > 0`` needs ``J0 > 0`` and ``V'(0) > 0``; the extremum is then a maximum
``s*``, and if ``V(s*) > theta`` the first crossing lies on the monotone bracket ``[0, s*]``, where
it is solved by bracketed Newton to the working precision. So no crossing is ever missed.

Events are processed in time order (a neuron's crossing before an input spike at the same
instant: ``V`` is continuous, so the input cannot prevent it). A predicted crossing is kept in the
event heap under a certified lower bound of its time and solved to full precision only when it
may be the next event, so crossings cancelled by later input cost little.

All arithmetic runs at ``dps + 10`` digits; the returned times are ``mpf`` at that precision.

Model 2 (the overrides ``bias``, ``v_reset``, ``delay``, a per-neuron ``tau_syn`` that may be 0,
``tau_mem = inf``; read from the network too where it has such fields). Neuron ``i`` integrates
``dJ/dt = -J/tau_syn_i + sum_k [post_k = i] w_k sum_{g in F_pre_k} delta(t - g - d_k)`` and
``dV/dt = -V/tau_mem_i + J + bias_i``; on reaching ``theta_i`` from below at ``f`` it spikes,
``V <- v_reset_i`` (``< theta_i``) and is held there on ``(f, f + t_ref_i]``, ignoring bias and
delta arrivals while ``J`` keeps evolving and receiving. ``tau_syn_i = 0`` makes ``i``'s synapses
delta synapses: an arrival adds ``w_k`` to ``V`` and fires at once if ``V >= theta_i`` (its slope
is reported as ``inf``); between arrivals ``V = C + (V0 - C) e^{-b s}``, ``C = bias/b``, whose
crossing is in closed form. With a current, ``V(s) = V0 e^{-bs} + J0 H(s) + bias G(s)``,
``G = (1 - e^{-bs})/b`` (``= s`` for ``b = 0``): a constant plus two exponentials (or a linear
term), so ``V' = J - bV + bias`` has at most one zero and the trajectory is monotone on
``[0, s_ext]`` and ``[s_ext, inf)``; the first rising piece that ends above ``theta`` (a maximum,
or the limit ``bias/b``, ``V0 + J0/a`` or ``+inf`` for ``b = 0``, bracketed by doubling) holds
the crossing, solved by bracketed Newton. Crossings are solved when predicted (no postponing).

Event order in model 2 (docs/model.md §1, "Simultaneous events"): a spike of node ``j`` at
``g`` delivers its zero-delay arrivals at once and schedules the others at ``g + d_k`` (dropped
if after ``t_max``). At equal times input spikes come first (by node), then scheduled arrivals
(by the order in which their spikes were emitted), then threshold crossings (by neuron). The
arrivals of one spike at one instant act together: the delta-synapse neurons they leave at or
above ``theta`` fire right after them, before any other event, in the order they were lifted
(each only if still at or above ``theta`` when its turn comes); their own arrivals follow the
same rule. An arrival at the spike instant of its target finds ``V = v_reset`` and, if
``t_ref > 0``, a delta arrival there is ignored. Parameters of model 1 (zero delays, bias,
reset, one ``tau_syn > 0``, finite ``tau_mem``) run the model-1 loop above, unchanged
(``general=True`` forces the model-2 loop).

Finite differences. The overrides of :func:`simulate_reference` (``weight``, ``input_times``,
``threshold``, ``tau_mem``, ``tau_syn``, ``t_ref``, ``t_max``) take floats (converted exactly),
strings or ``mpf``. Form the perturbed value in high precision: at mpmath's default 15 digits
``mpf(w) + mpf("1e-25")`` rounds back to ``w``. For example::

    with mp.workdps(60):
        w = [mpf(float(x)) for x in problem.network.weight]
        w[k] += mpf("1e-25")
    plus = simulate_reference(problem, weight=w)

Also here: :func:`closed_form_single_neuron`, float64 closed forms for one neuron
(``tau_mem = 2 tau_syn``: a quadratic in ``e^{-t/tau_mem}``; ``tau_mem = tau_syn``: Lambert W),
a third, independent way of computing spike times.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
from mpmath import mp, mpf

__all__ = [
    "ReferenceRun",
    "closed_form_single_neuron",
    "kernel",
    "simulate_reference",
    "simulate_reference_run",
]

_GUARD_DIGITS = 10
_SMALL = 1e-4


def _propagate(s: mpf, a: mpf, b: mpf) -> tuple[mpf, mpf, mpf]:
    """``(e^{-a s}, e^{-b s}, H(s))`` for an interval of length ``s``.

    ``H = (e^{-a s} - e^{-b s}) / (b - a)`` loses ``log10(1/|(b-a) s|)`` digits to cancellation,
    so below ``|(b - a) s| = 1e-4`` (less than the guard digits) the ``expm1`` form is used.
    """
    ea = mpmath.exp(-a * s)
    x = (b - a) * s
    if abs(x) > _SMALL:
        eb = mpmath.exp(-b * s)
        return ea, eb, (ea - eb) / (b - a)
    if x == 0:
        return ea, ea, ea * s
    em = mpmath.expm1(-x)  # e^{-(b-a) s} - 1
    return ea, ea * (1 + em), -ea * em / (b - a)


def kernel(s: Any, tau_syn: Any, tau_mem: Any) -> mpf:
    """The post-synaptic kernel ``h(s)`` (voltage at ``s >= 0`` after one unit jump of current)."""
    s, a, b = mpf(s), 1 / mpf(tau_syn), 1 / mpf(tau_mem)
    if s <= 0:
        return mpf(0)
    return _propagate(s, a, b)[2]


def _peak_time(v0: mpf, j0: mpf, a: mpf, b: mpf) -> mpf | None:
    """Time ``s* > 0`` of the maximum of the free trajectory, or None if there is none ahead.

    Assumes ``j0 > 0`` and ``V'(0) = j0 - b v0 > 0``.
    """
    r = b - a
    if r == 0:
        s_pk = 1 / a - v0 / j0
    else:
        arg = -r * v0 / j0
        if arg <= -1:
            return None
        if abs(r) > _SMALL * a:  # ln of the product: its absolute error is not amplified much
            s_pk = mpmath.log((b / a) * (1 + arg)) / r
        else:  # nearly equal rates: keep the digits that division by r would expose
            s_pk = (mpmath.log1p(r / a) + mpmath.log1p(arg)) / r
    return s_pk if s_pk > 0 else None


def _float_guess(v0: float, j0: float, a: float, b: float, theta: float, hi: float) -> float:
    """A float64 estimate of the root on ``[0, hi]`` (bracketed Newton in double precision)."""
    lo, s = 0.0, 0.5 * hi
    for _ in range(100):
        ea = math.exp(-a * s)
        x = (b - a) * s
        h = ea * s if x == 0 else -ea * math.expm1(-x) / (b - a)
        v = v0 * ea * math.exp(-x) + j0 * h
        f = v - theta
        if f == 0:
            return s
        if f < 0:
            lo = s
        else:
            hi = s
        slope = j0 * ea - b * v
        s_new = s - f / slope if slope > 0 else -1.0
        if not lo < s_new < hi:
            s_new = 0.5 * (lo + hi)
        if abs(s_new - s) <= 1e-15 * (s + 1) or hi - lo <= 1e-15 * (s + 1):
            return s_new
        s = s_new
    return s


def _solve_crossing(
    v0: mpf, j0: mpf, a: mpf, b: mpf, theta: mpf, lo: mpf, hi: mpf, s: mpf, t0: mpf
) -> mpf:
    """Root of ``V(s) = theta`` on ``[lo, hi]``, where ``V - theta`` increases from < 0 to > 0.

    Starts from ``s``; Newton steps are accepted only inside the shrinking bracket, bisection
    otherwise. Stops when the bracket or the step is below the working precision relative to
    the absolute time (Newton's last step leaves an error of order its square).
    """
    tol = mpf(2) ** (8 - mp.prec) * (abs(t0) + hi + 1)
    for _ in range(4 * mp.prec):
        ea, eb, h = _propagate(s, a, b)
        v = v0 * eb + j0 * h
        f = v - theta
        if f == 0:
            return s
        if f < 0:
            lo = s
        else:
            hi = s
        slope = j0 * ea - b * v
        s_new = s - f / slope if slope > 0 else lo - 1
        if not lo < s_new < hi:
            s_new = (lo + hi) / 2
        step = abs(s_new - s)
        s = s_new
        if step <= tol or hi - lo <= tol:
            return s
    raise RuntimeError("reference: crossing solver did not converge")  # pragma: no cover


def _crossing_bracket(v0: mpf, j0: mpf, a: mpf, b: mpf, theta: mpf) -> tuple[mpf, mpf, mpf] | None:
    """Where the free trajectory from ``(v0, j0)`` first reaches ``theta`` from below.

    Returns None if it never does (no maximum ahead, or a maximum at or below threshold), else
    ``(lo, hi, start)``: ``V - theta`` rises monotonically on ``[lo, hi]`` from < 0 to > 0
    (``hi`` is the maximum), so the crossing is certainly in there, and ``start`` is a float64
    estimate of it inside the bracket. ``lo`` is then a certified lower bound of the crossing,
    good to ~1e-9 relative (checked in full precision), which lets the event loop postpone the
    full-precision solve until the crossing may be the next event.
    """
    if v0 >= theta:
        return mpf(0), mpf(0), mpf(0)
    if j0 <= 0 or j0 - b * v0 <= 0:
        return None
    s_pk = _peak_time(v0, j0, a, b)
    if s_pk is None:
        return None
    _, eb, h = _propagate(s_pk, a, b)
    if v0 * eb + j0 * h <= theta:  # maximum below or exactly at threshold: no spike
        return None
    lo, start = mpf(0), s_pk / 2
    try:
        guess = _float_guess(float(v0), float(j0), float(a), float(b), float(theta), float(s_pk))
    except (OverflowError, ZeroDivisionError, ValueError):  # pragma: no cover - extreme scales
        return lo, s_pk, start
    if 0 < guess and guess < s_pk:
        start = mpf(guess)
        below = start * (1 - mpf("1e-9"))
        _, eb, h = _propagate(below, a, b)
        if v0 * eb + j0 * h < theta:
            lo = below
    return lo, s_pk, start


def _per_neuron(value: Any, n: int, name: str) -> list[mpf]:
    if isinstance(value, str) or not hasattr(value, "__len__"):
        return [mpf(value)] * n
    values = [mpf(x) for x in value]
    if len(values) != n:
        raise ValueError(f"{name}: expected {n} values, got {len(values)}")
    return values


@dataclass
class ReferenceRun:
    """Result of a reference simulation.

    Attributes:
        spikes: ``(global node id, time)`` of every neuron spike, sorted by time then node.
        slopes: ``dV/dt`` just before each spike, ``J(f) - theta/tau_mem`` (same order).
        min_peak_gap, peak_gap_neuron, peak_gap_time: the smallest ``theta_i - V_i`` over the
            positive sub-threshold local maxima of every ``V_i`` (a free peak, a kink where an
            input spike turned a rising ``V`` down, or ``V(t_max)`` while rising); neuron index
            ``0..N-1`` and time. ``inf``/-1/None without any (or when not tracked).
    """

    spikes: list[tuple[int, mpf]] = field(default_factory=list)
    slopes: list[mpf] = field(default_factory=list)
    min_peak_gap: mpf = field(default_factory=lambda: mpf("inf"))
    peak_gap_neuron: int = -1
    peak_gap_time: mpf | None = None

    def note_peak(self, value: mpf, theta: mpf, neuron: int, time: mpf) -> None:
        """Record a local maximum ``value`` of neuron ``neuron``'s potential at ``time``."""
        if 0 < value < theta and theta - value < self.min_peak_gap:
            self.min_peak_gap = theta - value
            self.peak_gap_neuron = neuron
            self.peak_gap_time = time


def _simulate_model1(
    problem: Any,
    *,
    dps: int = 50,
    weight: Sequence[Any] | None = None,
    input_times: Sequence[Any] | None = None,
    threshold: Any = None,
    tau_mem: Any = None,
    tau_syn: Any = None,
    t_ref: Any = None,
    t_max: Any = None,
    max_spikes: int = 100_000,
    track_peaks: bool = True,
) -> ReferenceRun:
    """The model-1 event loop (shared ``tau_syn``, no delay/bias/reset); see the public function.

    Args:
        problem: an ``fpgrad.Problem`` (only its public fields are read).
        dps: decimal digits of the result (the work uses ``dps + 10``).
        weight: one value per synapse, in file order.
        input_times: every input spike time, flattened in the order of ``problem.inputs``
            (input 0's spikes first, each train in its stored sorted order).
        threshold, tau_mem, t_ref: a number or one value per neuron.
        tau_syn, t_max: a number.
        max_spikes: a guard against runaway activity (RuntimeError beyond it).
        track_peaks: also find the sub-threshold maxima (``min_peak_gap``; costs time).

    Values may be floats (converted exactly), strings or ``mpf``.
    """
    net = problem.network
    n_in, n = int(net.n_inputs), int(net.n_neurons)
    with mp.workdps(dps + _GUARD_DIGITS):
        tsyn = mpf(float(net.tau_syn[0]) if tau_syn is None else tau_syn)  # shared in model 1
        a = 1 / tsyn
        b = [1 / x for x in _per_neuron(net.tau_mem if tau_mem is None else tau_mem, n, "tau_mem")]
        theta = _per_neuron(net.threshold if threshold is None else threshold, n, "threshold")
        tref = _per_neuron(net.t_ref if t_ref is None else t_ref, n, "t_ref")
        horizon = mpf(problem.t_max if t_max is None else t_max)
        n_syn = len(net.weight)
        w = [mpf(float(x)) for x in net.weight] if weight is None else [mpf(x) for x in weight]
        if len(w) != n_syn:
            raise ValueError(f"weight: expected {n_syn} values, got {len(w)}")
        out: list[dict[int, mpf]] = [{} for _ in range(n_in + n)]  # target -> summed weight
        for k in range(n_syn):
            targets = out[int(net.pre[k])]
            post = int(net.post[k]) - n_in
            targets[post] = targets.get(post, mpf(0)) + w[k]

        counts = [len(train) for train in problem.inputs]
        if input_times is None:
            flat = [mpf(float(t)) for train in problem.inputs for t in train]
        else:
            flat = [mpf(t) for t in input_times]
            if len(flat) != sum(counts):
                raise ValueError(f"input_times: expected {sum(counts)} values, got {len(flat)}")
        nodes = [j for j, c in enumerate(counts) for _ in range(c)]
        events = sorted(zip(flat, nodes, strict=True))

        v = [mpf(0)] * n
        cur = [mpf(0)] * n
        t_upd = [mpf(0)] * n
        release = [mpf("-inf")] * n
        version = [0] * n
        heap: list[tuple[mpf, int, int, tuple | None]] = []  # (time, neuron, version, todo)
        run = ReferenceRun()

        def free_start(i: int) -> tuple[mpf, mpf, mpf]:
            """``(t0, V0, J0)``: where neuron ``i``'s current free trajectory starts."""
            if t_upd[i] < release[i]:
                return release[i], mpf(0), cur[i] * mpmath.exp(-a * (release[i] - t_upd[i]))
            return t_upd[i], v[i], cur[i]

        def advance(i: int, t: mpf) -> None:
            """Bring neuron ``i``'s state to time ``t`` (no input in between)."""
            if t <= release[i]:  # refractory: V held at 0, the current decays
                cur[i] = cur[i] * mpmath.exp(-a * (t - t_upd[i]))
                v[i] = mpf(0)
            else:
                t0, v0, j0 = free_start(i)
                ea, eb, h = _propagate(t - t0, a, b[i])
                v[i], cur[i] = v0 * eb + j0 * h, j0 * ea
            t_upd[i] = t

        def free_peak(i: int, until: mpf) -> tuple[mpf, mpf] | None:
            """``(time, V)`` of the free trajectory's maximum if it lies before ``until``."""
            t0, v0, j0 = free_start(i)
            if not (j0 > 0 and j0 - b[i] * v0 > 0):
                return None
            s_pk = _peak_time(v0, j0, a, b[i])
            if s_pk is None or t0 + s_pk > until:
                return None
            _, eb, h = _propagate(s_pk, a, b[i])
            return t0 + s_pk, v0 * eb + j0 * h

        def receive(i: int, t: mpf, wsum: mpf) -> None:
            """Synaptic input ``wsum`` reaches neuron ``i`` at ``t`` (noting maxima it ends)."""
            if track_peaks and t > release[i]:
                peak = free_peak(i, t)
                if peak is not None and peak[0] < t:
                    run.note_peak(peak[1], theta[i], i, peak[0])
                advance(i, t)
                rate = cur[i] - b[i] * v[i]
                if rate > 0 and rate + wsum <= 0:  # the input turns a rising V down
                    run.note_peak(v[i], theta[i], i, t)
            else:
                advance(i, t)
            cur[i] = cur[i] + wsum

        def predict(i: int) -> None:
            """Push neuron ``i``'s next crossing (if any before ``t_max``) on the heap.

            The entry is keyed by a certified lower bound of the crossing and solved to full
            precision only when it reaches the top of the heap (then pushed again, exact).
            """
            version[i] += 1
            t0, v0, j0 = free_start(i)
            bracket = _crossing_bracket(v0, j0, a, b[i], theta[i])
            if bracket is not None and t0 + bracket[0] <= horizon:
                heapq.heappush(heap, (t0 + bracket[0], i, version[i], (t0, v0, j0, *bracket)))

        p_in = 0
        while True:
            t_inp = events[p_in][0] if p_in < len(events) else None
            while heap:  # settle the top: drop stale entries, solve those that may come next
                key, i, ver, todo = heap[0]
                if ver != version[i]:
                    heapq.heappop(heap)
                elif todo is not None and (t_inp is None or key <= t_inp):
                    heapq.heappop(heap)
                    t0, v0, j0, lo, hi, start = todo
                    f = t0 + _solve_crossing(v0, j0, a, b[i], theta[i], lo, hi, start, t0)
                    if f <= horizon:
                        heapq.heappush(heap, (f, i, ver, None))
                else:
                    break
            # (an unsolved top is known to come after the next input)
            t_neu = heap[0][0] if heap and heap[0][3] is None else None
            if t_neu is not None and (t_inp is None or t_neu <= t_inp):
                t, i, _, _ = heapq.heappop(heap)
                advance(i, t)
                run.spikes.append((n_in + i, t))
                run.slopes.append(cur[i] - b[i] * theta[i])
                if len(run.spikes) > max_spikes:
                    raise RuntimeError(f"reference: more than {max_spikes} spikes")
                v[i] = mpf(0)
                release[i] = t + tref[i]
                node = n_in + i
                touched = {i}
            elif t_inp is not None and t_inp <= horizon:
                t, node = events[p_in]
                p_in += 1
                touched = set()
            else:
                break
            for target, wsum in out[node].items():
                receive(target, t, wsum)
                touched.add(target)
            for target in touched:
                predict(target)

        if track_peaks:  # maxima of the last free trajectories, up to t_max
            for i in range(n):
                if horizon <= release[i]:
                    continue
                peak = free_peak(i, horizon)
                if peak is not None:
                    run.note_peak(peak[1], theta[i], i, peak[0])
                    continue
                _, v0, j0 = free_start(i)
                if j0 - b[i] * v0 > 0:  # still rising at t_max
                    advance(i, horizon)
                    run.note_peak(v[i], theta[i], i, horizon)

        order = sorted(range(len(run.spikes)), key=lambda q: (run.spikes[q][1], run.spikes[q][0]))
        run.spikes = [run.spikes[q] for q in order]
        run.slopes = [run.slopes[q] for q in order]
        return run


# --- Model 2: per-neuron tau_syn (0 = delta synapses), bias, v_reset, synaptic delays ---------


def _drive(s: mpf, b: mpf) -> mpf:
    """``G(s) = (1 - e^{-b s}) / b`` (``= s`` for ``b = 0``): the response to a unit bias."""
    return s if b == 0 else -mpmath.expm1(-b * s) / b


def _state_at(s: mpf, v0: mpf, j0: mpf, a: mpf | None, b: mpf, c: mpf) -> tuple[mpf, mpf]:
    """``(V, J)`` a time ``s`` after the free state ``(v0, j0)`` (``a = None``: no current)."""
    if a is None:
        return v0 * mpmath.exp(-b * s) + c * _drive(s, b), mpf(0)
    ea, eb, h = _propagate(s, a, b)
    return v0 * eb + j0 * h + c * _drive(s, b), j0 * ea


def _extremum_time(v0: mpf, j0: mpf, a: mpf, b: mpf, c: mpf) -> mpf | None:
    """The one zero ``s > 0`` of ``V' = J - b V + c`` on the free trajectory, if any.

    ``V = C + A e^{-a s} + B e^{-b s}`` (``C = c/b``) has at most one extremum; it is where
    ``e^{(b-a) s} = (b/a) (1 - (b-a) (V0 - C) / J0)`` (``b = 0``: ``e^{-a s} = -c / J0``).
    """
    if j0 == 0:
        return None
    if b == 0:
        if c == 0 or -j0 / c <= 0:
            return None
        s = mpmath.log(-j0 / c) / a
    else:
        u, r = v0 - c / b, b - a
        if r == 0:
            s = 1 / a - u / j0
        else:
            arg = -r * u / j0
            if arg <= -1:
                return None
            s = (mpmath.log1p(r / a) + mpmath.log1p(arg)) / r
    return s if s > 0 else None


def _next_crossing(
    v0: mpf, j0: mpf, a: mpf | None, b: mpf, c: mpf, theta: mpf, t0: mpf
) -> mpf | None:
    """First ``s >= 0`` where the free trajectory from ``(v0, j0)`` reaches ``theta`` from below.

    The trajectory is monotone on ``[0, s_ext]`` and on ``[s_ext, inf)`` (``s_ext`` the one
    extremum, if any), so the first rising piece that ends above ``theta`` holds the crossing:
    the first piece if it rises to a maximum above ``theta``, else the last piece if it rises
    towards a limit above ``theta`` (``c/b``; ``V0 + J0/a`` or ``+-inf`` for ``b = 0``), whose
    bracket is found by doubling. A maximum or limit exactly at ``theta`` is not a crossing.
    """
    if v0 >= theta:
        return mpf(0)
    if a is None or j0 == 0:  # constant drive: closed form
        if b == 0:
            return (theta - v0) / c if c > 0 else None
        big_c = c / b
        return mpmath.log((big_c - v0) / (big_c - theta)) / b if big_c > theta else None

    def slope(s: mpf) -> mpf:
        vs, js = _state_at(s, v0, j0, a, b, c)
        return js - b * vs + c

    s_ext = _extremum_time(v0, j0, a, b, c)
    rising = j0 - b * v0 + c > 0
    if rising and s_ext is not None:  # a maximum ahead; V falls for ever after it
        if _state_at(s_ext, v0, j0, a, b, c)[0] <= theta:
            return None
        return _bracketed_root(v0, j0, a, b, c, theta, mpf(0), s_ext, t0)
    if s_ext is not None:  # falls to a minimum, then rises for ever
        lo = s_ext
    elif rising or (j0 - b * v0 + c == 0 and slope(1 / a) > 0):  # rises for ever
        lo = mpf(0)
    else:
        return None
    if b > 0:
        limit = c / b
    else:
        limit = mpf("inf") if c > 0 else (mpf("-inf") if c < 0 else v0 + j0 / a)
    if not limit > theta:
        return None
    step = max(lo, 1 / a, 1 / b if b > 0 else mpf(1), mpf(1))
    for _ in range(10_000):
        if _state_at(lo + step, v0, j0, a, b, c)[0] > theta:
            return _bracketed_root(v0, j0, a, b, c, theta, lo, lo + step, t0)
        step *= 2
    raise RuntimeError("reference: no bracket for a certain crossing")  # pragma: no cover


def _bracketed_root(
    v0: mpf, j0: mpf, a: mpf, b: mpf, c: mpf, theta: mpf, lo: mpf, hi: mpf, t0: mpf
) -> mpf:
    """Root of ``V(s) = theta`` on ``[lo, hi]``, where ``V`` rises from below to above ``theta``.

    Newton steps inside the shrinking bracket, bisection otherwise, to the working precision
    relative to the absolute time.
    """
    tol = mpf(2) ** (8 - mp.prec) * (abs(t0) + hi + 1)
    s = (lo + hi) / 2
    for _ in range(4 * mp.prec):
        vs, js = _state_at(s, v0, j0, a, b, c)
        f = vs - theta
        if f == 0:
            return s
        if f < 0:
            lo = s
        else:
            hi = s
        rate = js - b * vs + c
        s_new = s - f / rate if rate > 0 else lo - 1
        if not lo < s_new < hi:
            s_new = (lo + hi) / 2
        step = abs(s_new - s)
        s = s_new
        if step <= tol or hi - lo <= tol:
            return s
    raise RuntimeError("reference: crossing solver did not converge")  # pragma: no cover


def _per_synapse(value: Any, n_syn: int, name: str) -> list[mpf]:
    if isinstance(value, str) or not hasattr(value, "__len__"):
        return [mpf(value)] * n_syn
    values = [mpf(x) for x in value]
    if len(values) != n_syn:
        raise ValueError(f"{name}: expected {n_syn} values, got {len(values)}")
    return values


def _simulate_model2(
    problem: Any,
    *,
    weight: list[mpf],
    flat: list[mpf],
    tsyn: list[mpf],
    tmem: list[mpf],
    theta: list[mpf],
    tref: list[mpf],
    bias: list[mpf],
    v_reset: list[mpf],
    delay: list[mpf],
    horizon: mpf,
    max_spikes: int,
    track_peaks: bool,
) -> ReferenceRun:
    """The general event loop (model 2); runs at the caller's working precision."""
    net = problem.network
    n_in, n = int(net.n_inputs), int(net.n_neurons)
    a: list[mpf | None] = [None if x == 0 else 1 / x for x in tsyn]
    b = [1 / x for x in tmem]  # inf -> 0
    c, vr = bias, v_reset
    n_syn = len(weight)
    post = [int(net.post[k]) - n_in for k in range(n_syn)]
    out: list[list[int]] = [[] for _ in range(n_in + n)]
    for k in range(n_syn):
        out[int(net.pre[k])].append(k)

    # Scheduled arrival groups: (time, emission number, synapses); emission numbers order
    # simultaneous groups the way their spikes were emitted.
    arrivals: list[tuple[mpf, int, list[int]]] = []
    emitted = [0]

    v = [mpf(0)] * n
    cur = [mpf(0)] * n
    t_upd = [mpf(0)] * n
    release = [mpf("-inf")] * n
    version = [0] * n
    heap: list[tuple[mpf, int, int]] = []  # (crossing time, neuron, version)
    lifted: list[int] = []  # delta neurons lifted to threshold, to fire next (in order)
    run = ReferenceRun()

    def decay(i: int, s: mpf) -> mpf:
        return mpf(0) if a[i] is None else cur[i] * mpmath.exp(-a[i] * s)

    def free_start(i: int) -> tuple[mpf, mpf, mpf]:
        if t_upd[i] < release[i]:
            return release[i], vr[i], decay(i, release[i] - t_upd[i])
        return t_upd[i], v[i], cur[i]

    def advance(i: int, t: mpf) -> None:
        if t <= release[i]:  # held at v_reset; the current keeps decaying
            cur[i], v[i] = decay(i, t - t_upd[i]), vr[i]
        else:
            t0, v0, j0 = free_start(i)
            v[i], cur[i] = _state_at(t - t0, v0, j0, a[i], b[i], c[i])
        t_upd[i] = t

    def free_peak(i: int, until: mpf) -> tuple[mpf, mpf] | None:
        t0, v0, j0 = free_start(i)
        if a[i] is None or not j0 - b[i] * v0 + c[i] > 0:
            return None
        s = _extremum_time(v0, j0, a[i], b[i], c[i])
        if s is None or t0 + s > until:
            return None
        return t0 + s, _state_at(s, v0, j0, a[i], b[i], c[i])[0]

    def predict(i: int) -> None:
        version[i] += 1
        t0, v0, j0 = free_start(i)
        s = _next_crossing(v0, j0, a[i], b[i], c[i], theta[i], t0)
        if s is not None and t0 + s <= horizon:
            heapq.heappush(heap, (t0 + s, i, version[i]))

    def receive(t: mpf, synapses: list[int]) -> None:
        """The arrivals at ``t`` of one spike, through ``synapses`` (in synapse order)."""
        for k in synapses:
            i = post[k]
            if a[i] is None and tref[i] > 0 and t <= release[i]:
                continue  # a delta arrival while V is held: no effect
            rate = None
            if track_peaks and t > release[i]:
                peak = free_peak(i, t)
                if peak is not None and peak[0] < t:
                    run.note_peak(peak[1], theta[i], i, peak[0])
                advance(i, t)
                rate = cur[i] - b[i] * v[i] + c[i]
            else:
                advance(i, t)
            if a[i] is None:
                if rate is not None and rate > 0 and weight[k] < 0:  # a downward kink
                    run.note_peak(v[i], theta[i], i, t)
                v[i] = v[i] + weight[k]
                if v[i] >= theta[i]:
                    version[i] += 1  # its crossing prediction is void: it fires now
                    if i not in lifted:
                        lifted.append(i)
                    continue
            else:
                if rate is not None and rate > 0 and rate + weight[k] <= 0:
                    run.note_peak(v[i], theta[i], i, t)
                cur[i] = cur[i] + weight[k]
            predict(i)

    def emit(node: int, t: mpf) -> None:
        """Spike of ``node`` at ``t``: zero-delay arrivals now, the others scheduled."""
        later: dict[mpf, list[int]] = {}
        for k in out[node]:
            if delay[k] == 0:
                continue
            if t + delay[k] <= horizon:
                later.setdefault(t + delay[k], []).append(k)
        for when in sorted(later):
            heapq.heappush(arrivals, (when, emitted[0], later[when]))
        emitted[0] += 1
        receive(t, [k for k in out[node] if delay[k] == 0])
        while lifted:
            i = lifted.pop(0)
            if v[i] >= theta[i]:
                fire(i, t, mpf("inf"))
            else:
                predict(i)

    def fire(i: int, t: mpf, slope: mpf) -> None:
        run.spikes.append((n_in + i, t))
        run.slopes.append(slope)
        if len(run.spikes) > max_spikes:
            raise RuntimeError(f"reference: more than {max_spikes} spikes")
        v[i], t_upd[i], release[i] = vr[i], t, t + tref[i]
        predict(i)
        emit(n_in + i, t)

    counts = [len(train) for train in problem.inputs]
    nodes = [j for j, cnt in enumerate(counts) for _ in range(cnt)]
    pending_inputs = sorted((t, node) for t, node in zip(flat, nodes, strict=True) if t <= horizon)
    p_in = 0
    for i in range(n):  # a bias can make a neuron fire without any input
        predict(i)
    while True:
        while heap and heap[0][2] != version[heap[0][1]]:
            heapq.heappop(heap)
        t_in = pending_inputs[p_in][0] if p_in < len(pending_inputs) else None
        t_arr = arrivals[0][0] if arrivals else None
        t_cross = heap[0][0] if heap else None
        times = [x for x in (t_in, t_arr, t_cross) if x is not None]
        if not times:
            break
        now = min(times)
        if t_in is not None and t_in == now:
            emit(pending_inputs[p_in][1], now)
            p_in += 1
        elif t_arr is not None and t_arr == now:
            _, _, synapses = heapq.heappop(arrivals)
            receive(now, synapses)
            while lifted:
                i = lifted.pop(0)
                if v[i] >= theta[i]:
                    fire(i, now, mpf("inf"))
                else:
                    predict(i)
        else:
            _, i, _ = heapq.heappop(heap)
            advance(i, now)
            fire(i, now, cur[i] - b[i] * theta[i] + c[i])

    if track_peaks:
        for i in range(n):
            if horizon <= release[i]:
                continue
            peak = free_peak(i, horizon)
            if peak is not None:
                run.note_peak(peak[1], theta[i], i, peak[0])
                continue
            _, v0, j0 = free_start(i)
            if j0 - b[i] * v0 + c[i] > 0:
                advance(i, horizon)
                run.note_peak(v[i], theta[i], i, horizon)

    order = sorted(range(len(run.spikes)), key=lambda q: (run.spikes[q][1], run.spikes[q][0]))
    run.spikes = [run.spikes[q] for q in order]
    run.slopes = [run.slopes[q] for q in order]
    return run


def simulate_reference_run(
    problem: Any,
    *,
    dps: int = 50,
    weight: Sequence[Any] | None = None,
    input_times: Sequence[Any] | None = None,
    threshold: Any = None,
    tau_mem: Any = None,
    tau_syn: Any = None,
    t_ref: Any = None,
    t_max: Any = None,
    max_spikes: int = 100_000,
    track_peaks: bool = True,
    bias: Any = None,
    v_reset: Any = None,
    delay: Any = None,
    general: bool = False,
) -> ReferenceRun:
    """Simulate ``problem`` at ``dps`` digits; the keywords override the problem's parameters.

    Args:
        problem: an ``fpgrad.Problem`` (only its public fields are read; ``bias``, ``v_reset``,
            ``delay`` and a per-neuron ``tau_syn`` are read too where the network has them).
        dps: decimal digits of the result (the work uses ``dps + 10``).
        weight: one value per synapse, in file order.
        input_times: every input spike time, flattened in the order of ``problem.inputs``
            (input 0's spikes first, each train in its stored sorted order).
        threshold, tau_mem, t_ref: a number or one value per neuron (``tau_mem`` may be inf).
        tau_syn: a number or one value per neuron; 0 makes the neuron's synapses delta synapses.
        bias, v_reset: a number or one value per neuron (model 2; default 0).
        delay: a number or one value per synapse, ``>= 0`` (model 2; default 0).
        t_max: a number.
        max_spikes: a guard against runaway activity (RuntimeError beyond it).
        track_peaks: also find the sub-threshold maxima (``min_peak_gap``; costs time).
        general: use the model-2 event loop even for model-1 parameters (a cross-check).

    Values may be floats (converted exactly), strings or ``mpf``. Model-1 parameters (every
    delay, bias and reset 0, one ``tau_syn > 0``, finite ``tau_mem``) run the model-1 loop,
    unchanged; anything else runs the model-2 loop (see the module docstring for its rules).
    """
    net = problem.network
    n = int(net.n_neurons)
    n_syn = len(net.weight)

    def pick(override: Any, attr: str, default: Any) -> Any:
        if override is not None:
            return override
        found = getattr(net, attr, None)
        return default if found is None else found

    with mp.workdps(dps + _GUARD_DIGITS):
        tsyn = _per_neuron(pick(tau_syn, "tau_syn", 0), n, "tau_syn")
        tmem = _per_neuron(pick(tau_mem, "tau_mem", 0), n, "tau_mem")
        c = _per_neuron(pick(bias, "bias", 0), n, "bias")
        vr = _per_neuron(pick(v_reset, "v_reset", 0), n, "v_reset")
        d = _per_synapse(pick(delay, "delay", 0), n_syn, "delay")
        model1 = (
            all(x == tsyn[0] for x in tsyn)
            and tsyn[0] > 0
            and all(mpmath.isfinite(x) for x in tmem)
            and not any(c)
            and not any(vr)
            and not any(d)
        )
        if model1 and not general:
            return _simulate_model1(
                problem,
                dps=dps,
                weight=weight,
                input_times=input_times,
                threshold=threshold,
                tau_mem=tau_mem,
                tau_syn=tsyn[0],
                t_ref=t_ref,
                t_max=t_max,
                max_spikes=max_spikes,
                track_peaks=track_peaks,
            )
        theta = _per_neuron(net.threshold if threshold is None else threshold, n, "threshold")
        tref = _per_neuron(net.t_ref if t_ref is None else t_ref, n, "t_ref")
        if any(x < 0 for x in tsyn) or any(x < 0 for x in d) or any(x <= 0 for x in tmem):
            raise ValueError("need tau_syn >= 0, tau_mem > 0 and delay >= 0")
        if any(r >= th for r, th in zip(vr, theta, strict=True)):
            raise ValueError("need v_reset < threshold")
        w = [mpf(float(x)) for x in net.weight] if weight is None else [mpf(x) for x in weight]
        if len(w) != n_syn:
            raise ValueError(f"weight: expected {n_syn} values, got {len(w)}")
        counts = [len(train) for train in problem.inputs]
        if input_times is None:
            flat = [mpf(float(t)) for train in problem.inputs for t in train]
        else:
            flat = [mpf(t) for t in input_times]
            if len(flat) != sum(counts):
                raise ValueError(f"input_times: expected {sum(counts)} values, got {len(flat)}")
        return _simulate_model2(
            problem,
            weight=w,
            flat=flat,
            tsyn=tsyn,
            tmem=tmem,
            theta=theta,
            tref=tref,
            bias=c,
            v_reset=vr,
            delay=d,
            horizon=mpf(problem.t_max if t_max is None else t_max),
            max_spikes=max_spikes,
            track_peaks=track_peaks,
        )


def simulate_reference(
    problem: Any,
    *,
    dps: int = 50,
    weight: Sequence[Any] | None = None,
    input_times: Sequence[Any] | None = None,
    threshold: Any = None,
    tau_mem: Any = None,
    tau_syn: Any = None,
    t_ref: Any = None,
    t_max: Any = None,
    max_spikes: int = 100_000,
    bias: Any = None,
    v_reset: Any = None,
    delay: Any = None,
    general: bool = False,
) -> list[tuple[int, mpf]]:
    """Neuron spikes ``(global node id, time)`` of ``problem``, sorted by time then node.

    See :func:`simulate_reference_run` for the overrides (``weight`` per synapse, ``input_times``
    flattened in the order of ``problem.inputs``, ``threshold``/``tau_mem``/``t_ref`` a number or
    per neuron, ``tau_syn`` a number or per neuron, ``t_max`` a number; model 2: ``bias``,
    ``v_reset`` per neuron, ``delay`` per synapse).
    """
    return simulate_reference_run(
        problem,
        dps=dps,
        weight=weight,
        input_times=input_times,
        threshold=threshold,
        tau_mem=tau_mem,
        tau_syn=tau_syn,
        t_ref=t_ref,
        t_max=t_max,
        max_spikes=max_spikes,
        track_peaks=False,
        bias=bias,
        v_reset=v_reset,
        delay=delay,
        general=general,
    ).spikes


# --- Float64 closed forms for one neuron (independent of both simulators) -------------------


def _quadratic_crossing(v0: float, j0: float, b: float, theta: float, length: float) -> float:
    """First ``u`` in ``(0, length]`` with ``V(u) = theta`` when ``tau_mem = 2 tau_syn``.

    With ``y = e^{-b u}`` (so ``e^{-a u} = y^2``), ``H(u) = (y - y^2)/b`` and
    ``V = A y - B y^2`` with ``A = v0 + j0/b``, ``B = j0/b``: the crossing is the largest root of
    ``B y^2 - A y + theta = 0`` in ``[e^{-b length}, 1)`` (``inf`` if none).
    """
    big_a, big_b = v0 + j0 / b, j0 / b
    roots = []
    if big_b == 0.0:
        if big_a != 0.0:
            roots.append(theta / big_a)
    else:
        disc = big_a * big_a - 4.0 * big_b * theta
        if disc >= 0.0:
            q = 0.5 * (big_a + math.copysign(math.sqrt(disc), big_a))
            if q != 0.0:
                roots += [q / big_b, theta / q]
    y_end = math.exp(-b * length)
    good = [y for y in roots if y_end <= y < 1.0]
    return -math.log(max(good)) / b if good else math.inf


def _lambert_crossing(v0: float, j0: float, b: float, theta: float, length: float) -> float:
    """First ``u`` in ``(0, length]`` with ``V(u) = theta`` when ``tau_mem = tau_syn = 1/b``.

    ``V(u) = (v0 + j0 u) e^{-b u}``; with ``z = v0 + j0 u``, ``z e^{-b z / j0} = theta
    e^{-b v0 / j0}``, so ``z = -(j0/b) W0(-(b theta / j0) e^{-b v0 / j0})`` (the principal
    branch is the first, rising, crossing).
    """
    from scipy.special import lambertw

    if j0 <= 0.0:
        return math.inf
    expo = -b * v0 / j0
    if expo > 700.0:
        return math.inf
    arg = -(b * theta / j0) * math.exp(expo)
    if arg < -math.exp(-1.0):
        return math.inf
    z = -(j0 / b) * float(lambertw(arg, 0).real)
    u = (z - v0) / j0
    return u if 0.0 < u <= length else math.inf


def closed_form_single_neuron(
    inputs: Sequence[tuple[float, float]],
    *,
    tau_syn: float,
    tau_mem: float,
    threshold: float,
    t_max: float,
    t_ref: float = 0.0,
    self_weight: float = 0.0,
) -> list[float]:
    """Spike times of one neuron driven by ``inputs = [(time, weight), ...]``, in float64.

    Each inter-event interval is solved in closed form: a quadratic in ``e^{-t/tau_mem}`` when
    ``tau_mem = 2 tau_syn`` and a Lambert-W form when ``tau_mem = tau_syn`` (other ratios raise).
    After a spike ``V`` is reset to 0, held there for ``t_ref`` while the current decays, and the
    neuron's own spike adds ``self_weight`` to its current (a self-loop).
    """
    if tau_mem == 2.0 * tau_syn:
        crossing = _quadratic_crossing
    elif tau_mem == tau_syn:
        crossing = _lambert_crossing
    else:
        raise ValueError("closed forms need tau_mem = 2 tau_syn or tau_mem = tau_syn")
    a, b = 1.0 / tau_syn, 1.0 / tau_mem
    events = sorted(inputs)
    v, j, t, release = 0.0, 0.0, 0.0, -math.inf
    spikes: list[float] = []
    k = 0
    while True:
        t_next = events[k][0] if k < len(events) else math.inf
        t_end = min(t_next, t_max)
        start, v0, j0 = t, v, j
        if start < release:  # refractory: V held at 0, the current decays
            j0 = j * math.exp(-a * (min(release, t_end) - start))
            v0, start = 0.0, min(release, t_end)
        u = crossing(v0, j0, b, threshold, t_end - start) if t_end > start else math.inf
        if u < math.inf:
            f = start + u
            spikes.append(f)
            v, j, t, release = 0.0, j0 * math.exp(-a * u) + self_weight, f, f + t_ref
            continue
        if t_next > t_max:
            return spikes
        s = t_next - start
        if crossing is _quadratic_crossing:
            y = math.exp(-b * s)
            v = v0 * y + j0 * (y - y * y) / b
        else:
            v = (v0 + j0 * s) * math.exp(-b * s)
        j, t = j0 * math.exp(-a * s) + events[k][1], t_next
        k += 1


# --- Finite differences of the reference ----------------------------------------------------

#: Parameter groups of the model and the field of ``problem.network`` (or problem) each reads.
_GROUP_FIELDS = {
    "weight": "weight",
    "input_time": None,
    "threshold": "threshold",
    "tau_mem": "tau_mem",
    "tau_syn": "tau_syn",
    "delay": "delay",
    "bias": "bias",
    "v_reset": "v_reset",
    "t_ref": "t_ref",
}
#: Groups whose domain is ``>= 0``: at 0 the right derivative is taken (forward differences).
_ONE_SIDED = ("delay", "t_ref")


def reference_jacobian(
    problem: Any,
    groups: Sequence[str],
    columns: dict[str, Sequence[int]] | None = None,
    *,
    step: str = "1e-20",
) -> dict[str, list[list[float]]]:
    """``d(spike times)/dp`` of the 50-digit reference by finite differences of step ``step``.

    Central differences, except for a ``delay`` or ``t_ref`` at 0 (forward: the right
    derivative). A ``tau_syn`` of 0 (delta synapses, a discrete choice) gets a column of zeros.
    ``columns[group]`` selects parameter indices (default all). Returns, per group, one list
    of spike-time derivatives per selected column (spikes sorted by time then node).
    """
    h = mpf(step)
    base_times = [t for _, t in simulate_reference(problem)]
    out: dict[str, list[list[float]]] = {}
    with mp.workdps(60):
        for group in groups:
            attr = _GROUP_FIELDS[group]
            if attr is None:
                values = [mpf(float(t)) for train in problem.inputs for t in train]
            else:
                values = [mpf(float(x)) for x in getattr(problem.network, attr)]
            keyword = "input_times" if group == "input_time" else group
            cols = []
            for q in range(len(values)) if columns is None else columns[group]:
                if group == "tau_syn" and values[q] == 0:
                    cols.append([0.0] * len(base_times))
                    continue
                one_sided = group in _ONE_SIDED and values[q] == 0
                runs = []
                for sign in (1,) if one_sided else (1, -1):
                    moved = list(values)
                    moved[q] += sign * h
                    runs.append([t for _, t in simulate_reference(problem, **{keyword: moved})])
                down = base_times if one_sided else runs[1]
                if not len(runs[0]) == len(down) == len(base_times):
                    raise AssertionError(f"reference: {group}[{q}] changes the spike count")
                width = h if one_sided else 2 * h
                cols.append([float((u - d) / width) for u, d in zip(runs[0], down, strict=True)])
            out[group] = cols
    return out
