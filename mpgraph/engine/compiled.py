"""A backward plan compiled into one Python function: the gradient run without its loops.

The loops of :mod:`mpgraph.engine.run` read, for every step, the step's entry from parallel
lists, its argument values from the run's list of values, and test for observers, residuals
and values to free. For a plan that runs again and again (``g.grad`` in a training loop), all
of that is known when the plan is made. :func:`compile_plan` writes the run out as straight-line
Python, one line per forward step and a few per message: values and error signals become local
variables, the op functions and vjps globals of the generated function, and what is freed
when is written in place. It computes exactly what the loops compute, in the same order, with
the same NumPy calls, so its values, error signals and gradients are the loops' to the bit.

The loops stay the reference: a run with observers, on another array library than NumPy, or
whose plan has not run before uses them, and so does any run whose compiled function raises,
again from its feeds, so that errors name the node and op as the loops' do.

A generated function for a plan of ``n`` forward steps and ``m`` messages has about
``n + 6 m`` lines; compiling it costs about as much as running the loops a few times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["compile_plan"]


def compile_plan(plan, loss: int, helpers: dict[str, Callable]) -> Callable[[list, list], None]:
    """The gradient run of ``plan`` as one function ``run(vals, signals)``.

    Parameters
    ----------
    plan : BackwardPlan
        With its forward steps (``plan.forward_steps``) and backward steps.
    loss : int
        The loss's slot.
    helpers : dict
        ``stand_ins`` and ``stand_in(value)`` (the shared stand-ins of freed values, by shape
        and dtype, and the function that makes one), ``check(i, k, j, msg,
        value)`` (the message ``msg`` from slot ``i``'s argument ``k`` to slot ``j``, checked
        against its parent's ``value``), ``seed(value)`` (the loss's error signal).

    Returns
    -------
    callable
        ``run(vals, signals)``: ``vals`` holds the feeds, parameters and constants at their
        slots; on return it holds every value (freed ones as stand-ins) and ``signals`` the
        error signals that the loops would leave.
    """
    op_slots, fns, fargs, ffrees, saves = plan.forward_steps
    bslots, bargs, bedges, bfrees = plan.steps
    computed = set(op_slots)
    names: dict[str, Any] = {"_nd": np.ndarray, **helpers}
    out = ["def run(vals, signals):"]
    read = {j for a in fargs for j in a} | {j for a in bargs for j in a} | set(bslots) | {loss}
    for j in sorted(read - computed):
        out.append(f"    v{j} = vals[{j}]")
    for k, (i, fn, a, free, save) in enumerate(zip(op_slots, fns, fargs, ffrees, saves)):
        names[f"f{k}"] = fn
        call = f"f{k}({', '.join(f'v{j}' for j in a)})"
        target = f"v{i}" if not save else f"v{i}, r{i}" if save == 1 else f"v{i}, _"
        out.append(f"    {target} = {call}")
        for j in free:
            out += _freeing(j, "    ")
    # how many messages each slot receives: one (most nodes) is stored without a sum
    count: dict[int, int] = {}
    for a, edges in zip(bargs, bedges):
        for k, _ in edges:
            count[a[k]] = count.get(a[k], 0) + 1
    receivers = sorted(count)
    out.append(f"    s{loss} = seed(v{loss})")
    for j in receivers:
        if j != loss:
            out.append(f"    s{j} = None")
            if count[j] > 1:
                out.append(f"    o{j} = False")
    kept = plan.kept
    residual = {i for i, save in zip(op_slots, saves) if save == 1}
    e = 0
    for i, a, edges, free in zip(bslots, bargs, bedges, bfrees):
        out.append(f"    if s{i} is not None:")
        args = ", ".join([f"s{i}", f"v{i}", *(f"v{j}" for j in a)])
        if i in residual:
            args += f", res=r{i}"
        for k, vjp in edges:
            j = a[k]
            names[f"e{e}"] = vjp
            odd = f"m.__class__ is not _nd or m.shape != v{j}.shape or m.dtype is not v{j}.dtype"
            if count[j] == 1:  # the only message: it is the error signal
                out += [
                    f"        m = e{e}({args})",
                    f"        if {odd}:",
                    f"            m = check({i}, {k}, {j}, m, v{j})",
                    f"        s{j} = m",
                ]
            else:
                out += [
                    f"        m = e{e}({args})",
                    "        if m is not None:",
                    f"            if {odd}:",
                    f"                m = check({i}, {k}, {j}, m, v{j})",
                    f"            if s{j} is None:",
                    f"                s{j} = m",
                    f"            elif o{j}:",
                    f"                s{j} += m",
                    "            else:",
                    f"                s{j} = s{j} + m",
                    f"                o{j} = True",
                ]
            e += 1
        if i in residual:
            out.append(f"        r{i} = None")
        if i not in kept:
            out.append(f"        s{i} = None")
        for j in free:
            out += _freeing(j, "        ")
    slots = sorted(read | computed)
    out.append(f"    vals[{slots[0]}:{slots[-1] + 1}] = [{', '.join(_or_none(slots))}]")
    for j in sorted(set(receivers) | {loss}):
        out.append(f"    signals[{j}] = s{j}")
    exec(compile("\n".join(out), "<mpgraph compiled plan>", "exec"), names)  # noqa: S102
    return names["run"]


def _freeing(j: int, indent: str) -> list[str]:
    """The lines that free ``v{j}`` as the loops do, inline: an array of more than one element
    becomes the stand-in of its shape and dtype (``stand_ins``, else ``stand_in(v)``)."""
    return [
        f"{indent}if v{j}.__class__ is _nd and v{j}.size > 1:",
        f"{indent}    f = stand_ins.get((v{j}.shape, v{j}.dtype))",
        f"{indent}    v{j} = f if f is not None else stand_in(v{j})",
    ]


def _or_none(slots: list[int]) -> list[str]:
    """The locals for a run of consecutive slots, ``vals[j]`` where a slot has none."""
    have = set(slots)
    return [f"v{j}" if j in have else f"vals[{j}]" for j in range(slots[0], slots[-1] + 1)]
