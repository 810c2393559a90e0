"""Op plugins for tests/distributed/test_distributed.py, in a module of their own so that the worker
processes that unpickle them import only this (not the test module and its imports)."""

import os
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

        return [mg.Op("fragile_identity", fragile, vjp=(lambda g, ans, x: g,), shape=lambda s: s)]


class StallOnce:
    """An identity op that hangs (sleeps 30 s) the first time it runs in any process, as marked
    by creating the file ``path``; later runs, including in other processes, do not."""

    def __init__(self, path):
        self.path = str(path)

    @mg.hookimpl
    def mpgraph_ops(self):
        def stall_once(x):
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL))  # one process wins
            except FileExistsError:
                return x
            time.sleep(30)
            return x

        return [mg.Op("stall_once", stall_once, vjp=(lambda g, ans, x: g,), shape=lambda s: s)]
