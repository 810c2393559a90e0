"""Op plugins for tests/test_distributed.py, in a module of their own so that the worker
processes that unpickle them import only this (not the test module and its imports)."""
import time

import numpy as np

import mpgraph as mg


class Sleepy:
    """An identity op that takes its time: a step during which a worker can be killed."""

    @mg.hookimpl
    def mpgraph_ops(self):
        def slow(x):
            time.sleep(0.4)
            return x
        return [mg.Op("sleepy_identity", slow, vjp=(lambda g, ans, x: g,), shape=lambda s: s)]


class Fragile:
    """An identity op that refuses negative numbers."""

    @mg.hookimpl
    def mpgraph_ops(self):
        def fragile(x):
            if np.any(x < 0):
                raise ValueError("fragile_identity got a negative number")
            return x
        return [mg.Op("fragile_identity", fragile, vjp=(lambda g, ans, x: g,),
                      shape=lambda s: s)]
