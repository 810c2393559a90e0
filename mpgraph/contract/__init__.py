"""The op definition: what an op is, independent of any graph.

An op is a forward function and one vector-Jacobian product per array argument
(:class:`Op`); :mod:`.shapes` holds the shape rules and broadcasting helpers that op
definitions share, :mod:`.rules` named constructors for the common shapes of rule, and
:mod:`.samples` the inputs on which the registry-wide checks run them.
Op authors import all of it from :mod:`mpgraph.extend`.
"""

from .op import Op, is_graph_node, raise_arity

__all__ = ["Op", "is_graph_node", "raise_arity"]
