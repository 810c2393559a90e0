"""The computation graph: a NetworkX DAG of inputs, parameters, constants and op nodes.

``g.nx`` is a ``networkx.MultiDiGraph`` keyed by node name. Every edge runs from an argument to
the op node that uses it and carries ``argnum``, its position among the op's arguments, so
``x * x`` is two edges from ``x`` (keys 0 and 1) and fan-out is several edges leaving one node.
Treat ``g.nx`` as read-only: build through the Graph. It is brought up to date when it is read,
so that building a graph (and tracing a function) does not pay NetworkX's cost per node.

The run schedule for a set of outputs is compiled once per graph version from the NetworkX DAG
(the outputs' ancestors, in topological order) and cached; runs then loop over flat lists and never
touch NetworkX. A throwaway graph (``mg.grad``'s trace, run once) skips NetworkX: nodes are created
only from nodes that exist already, so its creation order is a topological order already.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np

from ..backend import NUMPY, Library, library_named, library_of, not_dispatching, to_numpy
from ..contract.op import Op
from ..contract.samples import float_dtype
from ..contract.shapes import broadcast_shapes, same_shape
from ..errors import ArityError, GraphError, MpgraphError, ShapeError, UsageError, a_kind, at
from ..hooks.manager import get_op
from .node import Node, holds_nodes
from .run import Run
from .schedule import Schedule

__all__ = ["Graph", "NodeLike", "zero_gradient"]

NodeLike = Node | str


class Graph:
    """A computation graph.

    Parameters
    ----------
    throwaway : bool
        The graph is built for one run, as ``mg.grad`` builds its trace: its schedules come from
        the nodes' creation order instead of from the NetworkX DAG (the same order, without the
        one-time cost of bringing ``g.nx`` up to date).

    Attributes
    ----------
    ref : weakref.ref
        The graph's weak reference to itself, shared by its nodes (``node.graph_ref``): a node
        belongs to graph ``g`` when ``node.graph_ref is g.ref``, and holds no strong reference
        that would keep the graph alive in a cycle.

    Examples
    --------
    Grosse's univariate logistic least squares, ``L = (sigmoid(w x + b) - t)^2 / 2``:

    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x, t = g.input("x"), g.input("t")
    >>> w, b = g.param("w", 2.0), g.param("b", -1.0)
    >>> y = mg.ops.sigmoid(w * x + b, name="y")
    >>> L = mg.ops.multiply(0.5, (y - t) ** 2, name="L")
    >>> run = g.forward(L, feed={"x": 1.0, "t": 0.0})
    >>> round(float(run[y]), 4)
    0.7311
    >>> dw, db = g.grad(L, wrt=[w, b], feed={"x": 1.0, "t": 0.0})
    >>> round(float(dw), 4), round(float(db), 4)
    (0.1437, 0.1437)
    """

    def __init__(self, *, throwaway: bool = False) -> None:
        self.throwaway = throwaway  # compiled from creation order, not from NetworkX
        # A trace makes one constant node per Python number it uses (as a jaxpr's literals):
        # a chain's ``y * 0.5 + 1.0`` would otherwise add two nodes to every step. No one
        # draws a trace, and a constant gets no gradient, so sharing it changes no result.
        self._numbers: dict[tuple, Node] | None = {} if throwaway else None
        self._nodes: dict[str, Node] = {}
        self._order: list[Node] = []  # by creation index
        self._counts: dict[str, int] = {}
        self._scopes = threading.local()  # each thread's scope prefix
        self._open_scopes = 0  # in every thread: while 0, no prefix to look up
        self._schedules: dict[tuple[str, ...], Any] = {}
        self.ref = weakref.ref(self)  # shared by every node: no reference cycle, one object
        self._nx = nx.MultiDiGraph()
        self._nx_count = 0  # how many nodes of _order _nx has, with their edges
        self._nx_lock = threading.Lock()
        # Building from several threads: a node's name, index and place in the order are
        # taken together (re-entrant: making a node may make its constant arguments).
        self._build_lock = threading.RLock()
        self.library: Library = NUMPY  # where the parameters and array constants live

    @property
    def nx(self) -> nx.MultiDiGraph:
        """The graph as a ``networkx.MultiDiGraph``: nodes by name with ``kind``, ``op`` and
        ``handle`` (the :class:`Node`); edges from argument to op node, keyed by ``argnum``."""
        with self._nx_lock:
            return self._nx_up_to(len(self._order))

    def _nx_up_to(self, count: int) -> nx.MultiDiGraph:
        """``g.nx`` with at least the first ``count`` nodes; the caller holds ``_nx_lock``."""
        G = self._nx
        if self._nx_count < count:
            new = self._order[self._nx_count : count]
            G.add_nodes_from(
                (
                    node.name,
                    {
                        "kind": node.kind,
                        "handle": node,
                        "op": node.op.name if node.op is not None else None,
                    },
                )
                for node in new
            )
            G.add_edges_from(
                (parent.name, node.name, argnum, {"argnum": argnum})
                for node in new
                for argnum, parent in enumerate(node.args)
            )
            self._nx_count = count
        return G

    # -- building -----------------------------------------------------------------------------

    def input(
        self, name: str, shape: Sequence[int | None] | None = None, dtype: Any = None
    ) -> Node:
        """Add an input, fed at each run.

        Parameters
        ----------
        name : str
            Prefixed by the current scope.
        shape : sequence of int or None, optional
            Checked against every feed; ``None`` entries (a batch dim) match any size.
        dtype : optional
            Feeds are converted to it when NumPy calls that a same-kind cast (float64 to
            float32), and refused otherwise.
        """
        shape = _input_shape(name, shape)
        if dtype is not None:
            try:
                dtype = np.dtype(dtype)
            except TypeError as e:
                raise GraphError(
                    f"mpgraph: input '{name}': dtype {dtype!r} is not a NumPy dtype ({e})"
                ) from None
            if dtype.kind not in "biuf":
                raise GraphError(
                    f"mpgraph: input '{name}': dtype {dtype} is not a real number "
                    "type (bool, int, uint or float); mpgraph differentiates real "
                    "functions only"
                )
        with self._build_lock:
            return self._add(self._fresh(name, "input"), "input", shape=shape, dtype=dtype)

    def param(self, name: str, value: Any) -> Node:
        """Add a parameter holding ``value`` (copied; integers become float64).

        Its gradient is what :meth:`grad` returns by default. Change its value explicitly,
        with :meth:`set_param` or ``node.value = new``.
        """
        with self._build_lock:
            full = self._fresh(name, "param")
            value = _param_array(value, full)
            if self.library is not NUMPY:
                value = _moved(value, self.library)
            return self._add(
                full, "param", value=value, shape=tuple(value.shape), dtype=value.dtype
            )

    def constant(self, value: Any, name: str | None = None) -> Node:
        """Add a constant; arrays are copied.

        Scalar constants that look like Python numbers are *weak*, as Python numbers are in
        NumPy 2: a Python number, or a NumPy scalar or 0-d array of the dtype NumPy gives a
        Python number (float64, int64, bool: ``np.float64(0.5)``, ``np.array(0.5)``), is kept
        as a Python number, so it takes the dtype of the arrays it meets and ``float32_x * 0.5``
        stays float32 whichever way the 0.5 was written. A 0-d constant of another dtype
        (``np.float32(0.5)``) and every array of one or more dimensions keep their dtype and
        promote as NumPy's do.

        Raises
        ------
        GraphError
            A value that is not an array of real numbers (complex, strings, Python objects).
        """
        library = self.library
        if library is not NUMPY and library_of(value) == library:
            value = _foreign_constant(value, name)  # stays on its device: no host copy
        elif type(value) not in (float, int, bool):
            value = _constant_array(value, name)
            if value.ndim == 0 and value.dtype in _PYTHON_LIKE:  # weak (see above)
                value = value.item()
            elif library is not NUMPY:
                value = library.asarray(value)
        with self._build_lock:
            full = self._fresh(name, "const")
            if not hasattr(value, "shape"):
                return self._add(full, "const", value=value, shape=())
            if type(value) is np.ndarray:
                value.flags.writeable = False
            return self._add(
                full, "const", value=value, shape=tuple(value.shape), dtype=value.dtype
            )

    def apply(
        self,
        op: str | Op,
        args: Sequence[Any],
        attrs: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> Node:
        """Add a node applying ``op`` to ``args`` (nodes, or values that become constants).

        Raises
        ------
        GraphError
            Unknown op, wrong number of arguments, an argument from another graph.
        ShapeError
            Input shapes that the op's shape rule refuses.
        """
        if type(op) is not Op:
            op = get_op(op)
        plain = not (attrs or op.attr_names or op.variadic) and type(args) is tuple
        if plain and len(args) == op.nargs:  # arrays alone, as operators and op functions give
            attrs = {}
        else:
            attrs = _checked_attrs(op, args, attrs, name)
        ref = self.ref
        nodes, order = self._nodes, self._order
        lock = self._build_lock  # one acquisition for the node and its constant arguments
        lock.acquire()  # rather than ``with``: this runs for every traced op, and costs half
        try:
            if len(args) == 2:  # most ops: unrolled, tuples rather than lists to append to
                p0, p1 = args
                if type(p0) is not Node or p0.graph_ref is not ref:
                    p0 = self._argument(p0)
                if type(p1) is not Node or p1.graph_ref is not ref:
                    p1 = self._argument(p1)
                parents = (p0, p1)
                shapes = (p0.shape, p1.shape)
                dtypes = (p0.dtype, p1.dtype)
            elif len(args) == 1:
                p0 = args[0]
                if type(p0) is not Node or p0.graph_ref is not ref:
                    p0 = self._argument(p0)
                parents = (p0,)
                shapes = (p0.shape,)
                dtypes = (p0.dtype,)
            else:
                parents = tuple(
                    [
                        a if type(a) is Node and a.graph_ref is ref else self._argument(a)
                        for a in args
                    ]
                )
                shapes = tuple([p.shape for p in parents])
                dtypes = tuple([p.dtype for p in parents])
            if name is not None or self._open_scopes:
                full = self._fresh(name, op.name)
            else:  # _auto_name's common case inline: the next count is a free name
                stem = _stems.get(op.name) or _stem(op.name)
                counts = self._counts
                k = counts.get(stem, 0) + 1
                full = f"{stem}_{k}"
                if full in nodes:
                    full = self._auto_name(stem)
                else:
                    counts[stem] = k
            rule = op.shape
            if None in shapes:
                shape = None
            elif rule is same_shape or (
                rule is broadcast_shapes and len(shapes) == 2 and shapes[0] == shapes[1]
            ):  # what the rule returns, without its call: most traced ops are elementwise
                shape = shapes[0]
            elif rule is not None:
                try:  # the shape rule directly; on any failure again, to say what went wrong
                    shape = op.shape(*shapes, **attrs) if attrs else op.shape(*shapes)
                    if type(shape) is not tuple:
                        shape = tuple(shape)
                except Exception:
                    shape = self._infer_shape(op, parents, shapes, attrs, full)
            else:
                shape = self._infer_shape(op, parents, shapes, attrs, full)
            if attrs:
                _refuse_node_attrs(op, attrs, full)
            if op.dtype is float_dtype:  # inline, as the shape rule above
                dtype = dtypes[0]
                if dtype is not None and dtype.kind not in "fc":
                    dtype = _FLOAT64
            elif op.dtype:
                try:
                    if op.dtype_reads_shapes:
                        dtype = op.dtype(*dtypes, shapes=tuple(shapes), **attrs)
                    else:
                        dtype = op.dtype(*dtypes, **attrs)
                except ValueError as e:  # a dtype rule refusing an argument (float class labels)
                    raise GraphError(f"{at(op.name, full)}: {e}") from None
            elif len(dtypes) == 2 and (dtypes[1] is None or dtypes[1] is dtypes[0]):
                dtype = dtypes[0]  # as _promote would find: the common case, without its loops
            else:
                dtype = _promote(dtypes)
            node = Node(self, full, "op", len(order), op, attrs, parents, shape, dtype)
            nodes[full] = node  # as _add does, inline: this runs for every traced op
            order.append(node)
        finally:
            lock.release()
        return node

    def _argument(self, a: Any) -> Node:
        """The node for op argument ``a`` that is not a node of this graph: a constant (one
        per Python number in a trace), or an error for a node of another graph."""
        if type(a) in (float, int) and not self._open_scopes:
            # the common constant (``y * 0.5``), made here without _as_node's checks
            numbers = self._numbers
            if numbers is not None and a:  # 0.0 and -0.0 are equal keys: not shared
                key = (a, type(a))
                p = numbers.get(key)
                if p is not None:
                    return p
            order = self._order
            p = Node(
                self, self._auto_name("const"), "const", len(order), None, None, (), (), None, a
            )
            self._nodes[p.name] = p
            order.append(p)
            if numbers is not None and a:
                numbers[key] = p
            return p
        return self._as_node(a)

    def array(self, value: Any) -> Node:
        """An array node from a (nested) list, tuple or object array whose items are nodes
        and numbers, built with ``stack`` as autograd builds an array of its boxes, so that
        gradients flow to the items. ``np.array([x, 2 * x])`` and ``[x, 2 * x]`` given where an
        array is expected are built this way.

        Parameters
        ----------
        value : list, tuple or numpy.ndarray
            Items are nodes of this graph, numbers, arrays, or such sequences again.

        Returns
        -------
        Node
            A ``stack`` node (a node given alone is returned as it is).

        Raises
        ------
        GraphError
            An empty sequence, or items whose shapes do not stack.

        Examples
        --------
        >>> import mpgraph as mg
        >>> g = mg.Graph()
        >>> x = g.input("x", shape=())
        >>> v = g.array([x, 2 * x, 1.0])
        >>> v.shape, float(g.grad(mg.ops.sum(v), wrt=x, feed={"x": 5.0}))
        ((3,), 3.0)

        See also
        --------
        constant : a value without nodes.
        """
        if type(value) is Node:
            return self[value]
        if isinstance(value, np.ndarray) and value.ndim == 0:
            return self._as_node(value.item())
        if not holds_nodes(value):
            return self._as_node(value)
        items = [self.array(item) for item in value]
        if not items:
            raise GraphError("mpgraph: an empty sequence cannot be stacked into an array")
        return self.apply("stack", items)

    @property
    def _prefix(self) -> str:
        # the thread-local lookup costs as much as making the rest of a name: skip it while
        # no thread has a scope open
        return getattr(self._scopes, "prefix", "") if self._open_scopes else ""

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Prefix the names of the nodes made inside the block (in this thread) with ``name/``;
        scopes nest.

        Examples
        --------
        >>> import mpgraph as mg
        >>> g = mg.Graph()
        >>> with g.scope("layer1"):
        ...     W = g.param("W", [[1.0]])
        >>> W.name
        'layer1/W'
        """
        old = getattr(self._scopes, "prefix", "")
        self._scopes.prefix = f"{old}{name}/"
        with self._nx_lock:
            self._open_scopes += 1
        try:
            yield
        finally:
            self._scopes.prefix = old
            with self._nx_lock:
                self._open_scopes -= 1

    def set_param(self, node: NodeLike, value: Any) -> None:
        """Give parameter ``node`` a new value of the same shape (copied, cast to its dtype).

        Raises
        ------
        GraphError
            ``node`` is not a parameter.
        ShapeError
            The new value has another shape.
        """
        node = self[node]
        if node.kind != "param":
            raise GraphError(f"mpgraph: node '{node.name}' is {a_kind(node.kind)}, not a parameter")
        library = self.library
        if library is not NUMPY and library_of(value) == library:
            value = _foreign_param(value, node.name)  # stays on its device: no host copy
        else:
            value = _param_array(value, node.name)
        if tuple(value.shape) != node.shape:
            raise ShapeError(
                f"mpgraph: parameter '{node.name}' has shape {node.shape}; "
                f"the new value has shape {tuple(value.shape)}"
            )
        if value.dtype != node.dtype:
            value = value.astype(node.dtype)
            if type(value) is np.ndarray:
                value.flags.writeable = False
        node.fixed = value if library is NUMPY else _moved(value, library)

    def to(self, library: Any) -> Graph:
        """Move the parameters and array constants to another array library, as a model moves
        to a device; they stay there, and later runs feed arrays of that library.

        A graph moves by itself when it first runs on arrays of another library than NumPy;
        ``to`` moves it explicitly, back to NumPy too.

        Parameters
        ----------
        library : str, module or array
            ``"numpy"``, ``"cupy"``, ``"dask"`` (any library that implements NumPy's dispatch
            protocols), the library's module, or one of its arrays.

        Returns
        -------
        Graph
            ``self``.

        Raises
        ------
        GraphError
            ``library`` is not installed, or does not implement NumPy's dispatch protocols.

        See also
        --------
        mpgraph.engine.backend : how ops run on other libraries.

        Examples
        --------
        >>> import numpy as np, mpgraph as mg
        >>> g = mg.Graph()
        >>> w = g.param("w", np.ones(3))
        >>> g.to("numpy").library
        <array library numpy>
        """
        try:
            target = library_named(library)
        except ValueError as e:
            raise GraphError(f"mpgraph: cannot move the graph: {e}") from None
        with self._build_lock:
            for node in self._order:
                if node.kind in ("param", "const") and hasattr(node.fixed, "shape"):
                    node.fixed = _moved(node.fixed, target)
            self.library = target
        return self

    @classmethod
    def from_networkx(cls, G: nx.DiGraph | nx.MultiDiGraph) -> Graph:
        """Build a Graph from a NetworkX graph shaped like ``g.nx``.

        Each node has ``kind`` (``input``, ``param``, ``const`` or ``op``); inputs may have
        ``shape`` and ``dtype``; parameters and constants a ``value``; op nodes ``op`` (a
        registered op's name) and ``attrs``; every edge an ``argnum``.

        Raises
        ------
        GraphError
            The graph has a cycle, a node has an unknown kind or op, or an op node's arguments
            are not numbered 0..n-1.
        """
        if not isinstance(G, nx.DiGraph):
            raise GraphError(
                f"mpgraph: from_networkx takes a networkx DiGraph or "
                f"MultiDiGraph, got {type(G).__name__}"
            )
        if not nx.is_directed_acyclic_graph(G):  # linear; find_cycle only to name the cycle
            cycle = nx.find_cycle(G)
            path = " -> ".join([str(e[0]) for e in cycle] + [str(cycle[0][0])])
            raise GraphError(f"mpgraph: the graph has a cycle: {path}")
        g = cls()
        for name in nx.lexicographical_topological_sort(
            G, key=lambda n: G.nodes[n].get("index", 0)
        ):
            data = G.nodes[name]
            kind = data.get("kind")
            if kind == "input":
                g.input(name, data.get("shape"), data.get("dtype"))
            elif kind == "param":
                g.param(name, data["value"])
            elif kind == "const":
                g.constant(data["value"], name=name)
            elif kind == "op":
                edges = sorted((d.get("argnum", 0), u) for u, _, d in G.in_edges(name, data=True))
                if [k for k, _ in edges] != list(range(len(edges))):
                    raise GraphError(
                        f"{at(data.get('op'), name)}: arguments are numbered "
                        f"{[k for k, _ in edges]}, expected 0..{len(edges) - 1}"
                    )
                g.apply(data.get("op"), [g[u] for _, u in edges], data.get("attrs") or None, name)
            else:
                raise GraphError(
                    f"mpgraph: node '{name}' has kind {kind!r}; expected one of "
                    "'input', 'param', 'const', 'op'"
                )
        return g

    # -- looking up ---------------------------------------------------------------------------

    def __getitem__(self, name: NodeLike) -> Node:
        if type(name) is Node:
            if name.graph_ref is not self.ref:
                raise GraphError(f"mpgraph: node '{name.name}' belongs to another graph")
            return name
        try:
            return self._nodes[name]
        except (KeyError, TypeError):
            raise GraphError(f"mpgraph: no node named {name!r} in this graph") from None

    def __contains__(self, name: NodeLike) -> bool:
        return (name.graph_ref is self.ref) if type(name) is Node else name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def params(self) -> list[Node]:
        """The parameters, in the order they were added."""
        return [n for n in self._nodes.values() if n.kind == "param"]

    def inputs(self) -> list[Node]:
        """The inputs, in the order they were added."""
        return [n for n in self._nodes.values() if n.kind == "input"]

    # -- running ------------------------------------------------------------------------------

    def forward(
        self, outputs: NodeLike | Iterable[NodeLike], feed: Mapping[NodeLike, Any] | None = None
    ):
        """Evaluate ``outputs`` and only their ancestors, in topological order.

        Parameters
        ----------
        outputs : node, name, or a list of them
        feed : mapping from input (node or name) to value

        Returns
        -------
        Run
            Holds the value of every node it computed; call ``run.backward(loss)`` next.

        Raises
        ------
        FeedError
            A needed input is not fed, a feed names no input, or a feed has the wrong shape.
        OpError
            An op's forward raised; the node and op are named and the exception chained.
        """
        return Run(self.schedule(outputs), feed)

    def grad(
        self,
        loss: NodeLike,
        wrt: NodeLike | Sequence[NodeLike] | Mapping[Any, NodeLike] | None = None,
        feed: Mapping[NodeLike, Any] | None = None,
    ):
        """The gradient of scalar ``loss`` with respect to ``wrt`` (all parameters by default).

        Returns
        -------
        numpy.ndarray, or a list of them in the order of ``wrt`` when it is a sequence, or a
        dict with ``wrt``'s keys when it is a mapping (``{"w": w, "b": b}``, as a PyTorch
        user keeps ``named_parameters()``). A node that does not affect the loss gets zeros.

        Examples
        --------
        >>> import mpgraph as mg
        >>> g = mg.Graph()
        >>> w, b = g.param("w", 3.0), g.param("b", 1.0)
        >>> grads = g.grad(w * w + b, wrt={"weight": w, "bias": b})
        >>> {k: float(v) for k, v in grads.items()}
        {'weight': 6.0, 'bias': 1.0}
        """
        if isinstance(wrt, Mapping):
            keys = list(wrt)
            return dict(zip(keys, self.grad(loss, [wrt[k] for k in keys], feed)))
        single = wrt is not None and (type(wrt) is Node or isinstance(wrt, str))
        ref = self.ref
        targets = [
            w if type(w) is Node and w.graph_ref is ref else self[w]
            for w in ([wrt] if single else (self.params() if wrt is None else _listed(wrt, "wrt")))
        ]
        grads = self.gradient_run(loss, targets, feed, strict=wrt is not None)[1]
        return grads[0] if single else grads

    def gradient_run(
        self, loss: NodeLike, targets: list[Node], feed, *, strict: bool, keep: Sequence[Node] = ()
    ):
        """``(run, gradients)``: the gradient run and the gradients of ``targets``: zeros for those the loss does not
        depend on and, unless ``strict``, for those it reaches only through non-differentiable
        arguments (a comparison's step has a zero derivative almost everywhere). The values
        of the ``keep`` nodes stay in the run."""
        sched = self.schedule([loss, *keep] if keep else loss)
        loss = self[loss]
        key = (loss, strict, *targets)  # a training loop asks the same at every step
        known = sched.gradient_slots.get(key)
        if known is None:
            known = sched.gradient_slots[key] = _gradient_slots(sched, loss, targets, strict)
        li, reached, found, sources = known
        run = Run.for_gradient_slots(sched, li, sources, feed)
        grads = run.grads_at(found)
        if len(reached) < len(targets):
            found, names = iter(grads), {t.name for t in reached}
            grads = [
                next(found) if t.name in names else self.library.asarray(zero_gradient(t))
                for t in targets
            ]
        return run, grads

    def schedule(self, outputs: NodeLike | Iterable[NodeLike]):
        """The cached :class:`~mpgraph.engine.schedule.Schedule` that computes ``outputs``."""
        if type(outputs) is Node and outputs.graph_ref is self.ref:  # a loss: at every step
            sched = self._schedules.get((outputs.name,))
            if sched is not None:
                return sched
        outs = (
            [outputs]
            if (type(outputs) is Node or isinstance(outputs, str))
            else _listed(outputs, "outputs")
        )
        if not outs:
            raise GraphError("mpgraph: forward needs at least one output node")
        key = tuple(self[o].name for o in outs)
        sched = self._schedules.get(key)
        if sched is None:
            outs = [self._nodes[n] for n in key]
            order = self._order_from_args(outs) if self.throwaway else self._order_from_nx(outs)
            sched = self._schedules[key] = Schedule(order, outs)
        return sched

    def _order_from_nx(self, outs: list[Node]) -> list[Node]:
        """``outs`` and their ancestors in the DAG, in a topological order.

        NetworkX finds the ancestors, in time proportional to their number; they are then put in
        creation order, a topological order of the DAG since a node is created only from nodes
        that exist already. (Sorting them with ``nx.topological_sort`` of the ancestor subgraph
        gives an order as good, at 15 times the cost: see docs/architecture.md.)
        """
        needed: set[str] = set()
        with self._nx_lock:  # another thread may be adding nodes: read a consistent DAG
            G = self._nx_up_to(1 + max(o.index for o in outs))
            for o in outs:
                if o.name not in needed:
                    needed |= nx.ancestors(G, o.name)
                    needed.add(o.name)
        nodes = self._nodes
        return sorted((nodes[name] for name in needed), key=_creation_index)

    def _order_from_args(self, outs: list[Node]) -> list[Node]:
        """The same as :meth:`_order_from_nx`, from the nodes' argument lists."""
        last = max(node.index for node in outs)
        order = self._order[: last + 1]
        needed = [False] * len(order)
        for node in outs:
            needed[node.index] = True
        for i in range(last, -1, -1):  # consumers come after their arguments
            if needed[i]:
                for parent in order[i].args:
                    needed[parent.index] = True
        if all(needed):  # the common case: every node made so far leads to the outputs
            return order
        return [node for node, keep in zip(order, needed) if keep]

    # -- display ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        """What the graph holds: its inputs (with shapes), parameters, constants, op nodes and
        outputs (the nodes nothing else uses), e.g.
        ``<Graph: 7 nodes; inputs x (3,); params w (3,); 1 const; 3 ops; outputs y>``."""
        nodes = list(self._nodes.values())
        used = {id(p) for n in nodes for p in n.args}
        kinds = {k: [n for n in nodes if n.kind == k] for k in ("input", "param", "const", "op")}
        parts = [f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}"]
        for kind in ("input", "param"):
            if kinds[kind]:
                parts.append(
                    f"{kind}s " + _names([f"{n.name} {_shape_text(n.shape)}" for n in kinds[kind]])
                )
        for kind in ("const", "op"):
            if kinds[kind]:
                parts.append(f"{len(kinds[kind])} {kind}{'s' if len(kinds[kind]) != 1 else ''}")
        outputs = [n.name for n in kinds["op"] if id(n) not in used]
        if outputs:
            parts.append("outputs " + _names(outputs))
        return f"<Graph: {'; '.join(parts)}>"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """The graph's picture in Jupyter (see :func:`mpgraph.drawing.render`)."""
        from ..drawing.jupyter import repr_mimebundle  # the one upward import: display only

        return repr_mimebundle(self)

    def _repr_svg_(self) -> str | None:
        return self._repr_mimebundle_().get("image/svg+xml")

    # -- internals ----------------------------------------------------------------------------

    def _fresh(self, name: str | None, base: str) -> str:
        if name is not None:
            if not isinstance(name, str) or not name:
                raise GraphError(
                    f"mpgraph: a node name must be a non-empty string, got "
                    f"{type(name).__name__} {name!r}"
                )
            full = self._prefix + name
            if full in self._nodes:
                raise GraphError(f"mpgraph: node name '{full}' is already used in this graph")
            return full
        stem = _stem(base)
        return self._auto_name(self._prefix + stem if self._open_scopes else stem)

    def _auto_name(self, stem: str) -> str:
        """``stem_k`` for the next k not yet used."""
        counts = self._counts
        k = counts.get(stem, 0) + 1
        full = f"{stem}_{k}"
        while full in self._nodes:  # a name given explicitly, or a stem ending in _<digits>
            k += 1
            full = f"{stem}_{k}"
        counts[stem] = k
        return full

    def _add(
        self,
        name: str,
        kind: str,
        op: Op | None = None,
        attrs: dict | None = None,
        args: tuple = (),
        shape=None,
        dtype=None,
        value: Any = None,
    ) -> Node:
        node = Node(self, name, kind, len(self._order), op, attrs, args, shape, dtype, value)
        self._nodes[name] = node
        self._order.append(node)
        return node

    def _as_node(self, x: Any) -> Node:
        if type(x) is Node:
            return self[x]
        if type(x) in (float, int):  # the common constant (``y * 0.5``), without the checks
            with self._build_lock:
                name = self._auto_name(self._prefix + "const" if self._open_scopes else "const")
                node = self._nodes[name] = Node(
                    self, name, "const", len(self._order), None, None, (), (), None, x
                )
                self._order.append(node)
            return node
        if holds_nodes(x):
            return self.array(x)
        return self.constant(x)

    def _infer_shape(self, op: Op, parents: tuple[Node, ...], shapes: list, attrs: dict, name: str):
        try:
            if op.shape is not None:
                return tuple(op.shape(*shapes, **attrs))
            if any(d is None for s in shapes for d in s):
                return None
            _refuse_node_attrs(op, attrs, name)  # before forward meets a node
            with np.errstate(all="ignore"):
                return np.shape(op.forward(*map(_stand_in, parents), **attrs))
        except UsageError:  # a node given as an attribute, used by the rule as a number
            _refuse_node_attrs(op, attrs, name)
            raise
        except MpgraphError:
            raise
        except ValueError as e:
            raise ShapeError(f"{at(op.name, name)}: {e}") from None
        except Exception as e:  # a broken shape rule: say whose
            what = "shape rule" if op.shape is not None else "forward, run to find the shape,"
            raise GraphError(
                f"{at(op.name, name)}: the {what} raised {type(e).__name__}: {e}"
                f" (plugin '{op.plugin}')"
            ) from e


def _listed(items: Any, what: str) -> list:
    """``items`` as a list of nodes or names, refusing what is neither nor a sequence of them."""
    try:
        return list(items)
    except TypeError:
        raise GraphError(
            f"mpgraph: {what} must be a node, a node name or a list of them; got "
            f"{type(items).__name__} {items!r:.40}"
        ) from None


def _names(items: list[str], most: int = 6) -> str:
    shown = ", ".join(items[:most])
    return shown + (f", ... ({len(items)} in all)" if len(items) > most else "")


def _shape_text(shape) -> str:
    if shape is None:
        return "(shape ?)"
    return (
        "("
        + ", ".join("?" if d is None else str(d) for d in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


_stems: dict[str, str] = {}


def _gradient_slots(sched, loss: Node, targets: list[Node], strict: bool) -> tuple:
    """For :meth:`Graph.gradient_run`: the loss's slot, the targets that get a gradient (the
    loss reaches them, and unless ``strict`` through differentiable arguments), their slots,
    and the sorted sources of the backward plan."""
    slot_of = sched.slot_of
    slots = [slot_of(t) for t in targets]
    reached = [t for t, i in zip(targets, slots) if i is not None]
    li = slot_of(loss)
    if not strict and reached:
        plan = sched.backward_plan(li, tuple(sorted({i for i in slots if i is not None})))
        reached = [
            t for t, i in zip(targets, slots) if i is not None and plan.unreachable(i) is None
        ]
    found = [slot_of(t) for t in reached] if len(reached) < len(targets) else slots
    return li, reached, found, tuple(sorted(set(found)))


def _checked_attrs(op: Op, args: Any, attrs: Mapping[str, Any] | None, name: str | None) -> dict:
    """The node's attributes, defaults filled in, after checking ``args`` and ``attrs``
    against ``op`` (what :meth:`Graph.apply` checks for an op that takes attributes)."""
    if type(args) is Node or not isinstance(args, (list, tuple)):
        raise ArityError(
            f"{at(op.name, name)}: args must be a list of the op's array "
            f"arguments, got {type(args).__name__}"
        )
    defaults = op.attr_defaults
    if attrs:
        if not isinstance(attrs, Mapping):
            raise ArityError(
                f"{at(op.name, name)}: attrs must be a mapping from attribute "
                f"name to value, got {type(attrs).__name__}"
            )
        unknown = [k for k in attrs if k not in op.attr_names]
        if unknown:
            raise ArityError(
                f"{at(op.name, name)}: no attribute '{unknown[0]}' (it takes "
                f"{', '.join(op.attr_names) or 'no attributes'})"
            )
        attrs = {**defaults, **attrs}
    else:
        attrs = dict(defaults) if defaults else {}
    if len(defaults) != len(op.attr_names):  # some attribute has no default
        missing = [a for a in op.attr_names if a not in attrs]
        if missing:
            raise GraphError(f"{at(op.name, name)}: needs the attribute(s) {', '.join(missing)}")
    if not op.variadic and len(args) != op.nargs:
        raise GraphError(
            f"{at(op.name, name)}: takes {op.nargs} array argument"
            f"{'s' if op.nargs != 1 else ''}, got {len(args)}"
        )
    return attrs


def _stem(base: str) -> str:
    """The stem of generated names for op ``base``: dots (``linalg.norm``) become underscores."""
    stem = _stems.get(base)
    if stem is None:
        stem = _stems[base] = base.replace(".", "_")
    return stem


def _refuse_node_attrs(op: Op, attrs: dict, name: str) -> None:
    for key, value in attrs.items():
        if type(value) is Node:
            raise ArityError(
                f"{at(op.name, name)}: attribute '{key}' got the graph node '{value.name}', but "
                f"attributes are constants fixed when the node is built; the op takes "
                f"{op.nargs} array argument{'s' if op.nargs != 1 else ''}, one per vjp entry"
            )


def _stand_in(node: Node) -> Any:
    if node.kind in ("param", "const"):
        return node.fixed
    return np.broadcast_to(np.zeros((), node.dtype or np.float64), node.shape)


def zero_gradient(node: Node) -> np.ndarray:
    """The gradient of a node the loss does not depend on."""
    if node.kind == "param":
        return np.zeros_like(node.fixed)
    if node.shape is None or None in node.shape:
        raise GraphError(
            f"mpgraph: the loss does not depend on '{node.name}', whose shape is "
            "unknown: no zero gradient can be made for it; declare it, e.g. "
            f"g.input('{node.name}', shape=(2, 3))"
        )
    return np.zeros(node.shape, node.dtype or np.float64)


def _promote(dtypes: list) -> np.dtype | None:
    known = [d for d in dtypes if d is not None]
    if not known:
        return None
    first = known[0]
    for d in known:
        if d is not first:  # built-in dtypes are singletons: skip NumPy's promotion otherwise
            return np.result_type(*known)
    return first


_FLOAT64 = np.dtype(np.float64)

# The dtypes NumPy gives Python numbers: a 0-d constant of one of these is taken as weak.
_PYTHON_LIKE = (np.dtype(float), np.dtype(int), np.dtype(bool))


def _input_shape(name: str, shape: Any) -> tuple | None:
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        if isinstance(shape, str):
            raise TypeError
        dims = tuple(shape)
    except TypeError:
        raise GraphError(
            f"mpgraph: input '{name}': shape must be a sequence of ints (None for "
            f"a dim of any size); got {type(shape).__name__} {shape!r}"
        ) from None
    for d in dims:
        if d is not None and (
            isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or d < 0
        ):
            raise GraphError(
                f"mpgraph: input '{name}': shape {shape!r} has the dim {d!r}; dims "
                "are ints >= 0, or None for a dim of any size (a batch dim), not -1"
            )
    return tuple(None if d is None else int(d) for d in dims)


def _constant_array(value: Any, name: str | None) -> np.ndarray:
    where = f"constant '{name}'" if name is not None else "a constant"
    refused = not_dispatching(value, where)
    if refused is not None:
        raise GraphError(refused)
    try:
        arr = np.array(value)  # a copy: the caller's array stays theirs
    except (ValueError, TypeError) as e:  # a ragged list
        raise GraphError(f"mpgraph: {where} is not an array: {e}") from None
    if arr.dtype.kind not in "biuf":
        what = (
            "complex: mpgraph differentiates real functions only"
            if arr.dtype.kind == "c"
            else f"of dtype {arr.dtype} ({type(value).__name__}), not numbers"
        )
        raise GraphError(f"mpgraph: {where} is {what}")
    return arr


def _moved(value: Any, target: Library) -> Any:
    """A parameter's or constant's value in ``target``; NumPy copies stay read-only."""
    moved = target.asarray(value)
    if type(moved) is np.ndarray and moved is not value:
        moved.flags.writeable = False
    return moved


def _foreign_param(value: Any, name: str) -> Any:
    """A parameter value of another library than NumPy: checked, and copied in its library."""
    kind = value.dtype.kind
    if kind not in "biuf":
        raise GraphError(
            f"mpgraph: parameter '{name}' needs a real numeric value; got "
            f"{type(value).__name__} (dtype {value.dtype})"
        )
    copy = value.astype(np.float64 if kind in "biu" else value.dtype)
    return value.copy() if copy is value else copy  # Dask's astype to its dtype is a no-op


def _foreign_constant(value: Any, name: str | None) -> Any:
    """A constant of the graph's library other than NumPy: checked, and copied in it."""
    if value.dtype.kind not in "biuf":
        where = f"constant '{name}'" if name is not None else "a constant"
        raise GraphError(f"mpgraph: {where} is of dtype {value.dtype}, not real numbers")
    return value.copy()  # the caller's array stays theirs


def _param_array(value: Any, name: str) -> np.ndarray:
    given = value
    refused = not_dispatching(value, f"parameter '{name}'")
    if refused is not None:
        raise GraphError(refused)
    value = to_numpy(value)  # an array of another library: copied to the host
    try:
        value = np.array(value)  # a copy: the caller's array stays theirs
    except (ValueError, TypeError) as e:  # a ragged list
        raise GraphError(f"mpgraph: parameter '{name}' is not an array: {e}") from None
    if value.dtype.kind == "c":
        raise GraphError(
            f"mpgraph: parameter '{name}' is complex; mpgraph differentiates real functions only"
        )
    if value.dtype.kind not in "biuf":
        raise GraphError(
            f"mpgraph: parameter '{name}' needs a numeric value; got "
            f"{type(given).__name__} (dtype {value.dtype})"
        )
    if value.dtype.kind in "biu":
        value = value.astype(np.float64)
    value.flags.writeable = False
    return value


def _creation_index(node: Node) -> int:
    return node.index
