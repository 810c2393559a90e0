"""Beyond one machine: data-parallel gradients on workers that hold the graph and a shard each.

``DataParallel(graph, loss, data, workers=4, backend="ray")`` starts the workers (Ray actors,
or Python processes with ``backend="local"``); ``dp.value_and_grad()`` is one step over all the
data or a minibatch of it, equal to the single-process result to rounding; a worker that dies
is replaced and its shard computed again. :func:`fit` is ``mg.fit`` with its gradients from
workers. :func:`step_graph` draws a step as one graph: the workers' copies of the model share
the parameters, each of which sums one message per worker. Ray is imported only when a Ray backend starts. See ``docs/distributed.md``.
"""

from .data_parallel import DataParallel, shard_bounds
from .fit import fit
from .picture import step_graph

__all__ = ["DataParallel", "fit", "shard_bounds", "step_graph"]
