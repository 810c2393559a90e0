"""The plugin manager and the table of registered ops.

One ``pluggy.PluginManager("mpgraph")`` holds every process-wide plugin: the built-in op
modules in ``mpgraph.builtin``, the packages installed with an ``mpgraph`` entry point, and
whatever is registered at run time with :func:`register`. The op table is rebuilt from the
``mpgraph_ops`` hook whenever the set of plugins changes, under one lock.

Observer plugins can also be enabled for a block of code only (:func:`enabled`); those live in
a context variable, so they affect the runs started in that thread or task and no others.

Environment variables, read when the plugin manager is (re)built (:func:`reload`):

``MPGRAPH_DISABLE_PLUGIN_AUTOLOAD``
    Any non-empty value: do not load the ``mpgraph`` entry points (the built-in ops stay).
``MPGRAPH_BLOCK_PLUGINS``
    Comma-separated plugin or distribution names never to load (``conv,mpgraph-anomaly``).
``MPGRAPH_STRICT_PLUGINS``
    Any non-empty value: a plugin problem (an import that fails, a malformed op, a clash) is an
    error instead of a warning, raised by every use of the op table until it is fixed.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import importlib
import importlib.metadata
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pluggy

from ..contract.op import Op
from ..errors import MpgraphError, PluginError, UnknownOpError
from . import specs

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "ENV_BLOCK",
    "ENV_NO_AUTOLOAD",
    "ENV_STRICT",
    "OBSERVER_HOOKS",
    "Observer",
    "block",
    "describe",
    "distribution",
    "enabled",
    "get_op",
    "hookimpl",
    "observers",
    "on_rebuild",
    "ops",
    "plugin_manager",
    "problems",
    "register",
    "reload",
    "unregister",
]

hookimpl = pluggy.HookimplMarker("mpgraph")

BUILTIN = (
    "mpgraph.builtin.elementwise",
    "mpgraph.builtin.reductions",
    "mpgraph.builtin.shape",
    "mpgraph.builtin.linalg",
    "mpgraph.builtin.nn",
    "mpgraph.builtin.indexing",
    "mpgraph.builtin.arrange",
    "mpgraph.builtin.gradient",
)
ENTRY_POINT_GROUP = "mpgraph"
ENV_NO_AUTOLOAD = "MPGRAPH_DISABLE_PLUGIN_AUTOLOAD"
ENV_BLOCK = "MPGRAPH_BLOCK_PLUGINS"
ENV_STRICT = "MPGRAPH_STRICT_PLUGINS"
OBSERVER_HOOKS = ("mpgraph_node_value", "mpgraph_message", "mpgraph_error_signal")

_lock = threading.RLock()
_on_rebuild: list = []  # called after the op table is rebuilt (see on_rebuild)
_pm: pluggy.PluginManager | None = None
_ops: dict[str, Op] | None = None
_observers: tuple | None = None
_load_problems: list[str] = []
_strict = False
# the observer plugins enabled for the current block, in a manager of their own
_scoped: contextvars.ContextVar[pluggy.PluginManager | None] = contextvars.ContextVar(
    "mpgraph_scoped", default=None
)


# -- the plugin manager -----------------------------------------------------------------------


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with the built-in and installed plugins loaded."""
    if _pm is None:
        with _lock:
            if _pm is None:
                _build(autoload=None, block=None, strict=None)
    return _pm


def reload(
    *,
    autoload: bool | None = None,
    block: str | list[str] | None = None,
    strict: bool | None = None,
) -> list[str]:
    """Rebuild the plugin manager from scratch: built-ins, then the installed entry points.

    Plugins registered at run time are dropped. Each argument left as ``None`` is read from
    its environment variable (see the module docs).

    Parameters
    ----------
    autoload : bool, optional
        Load the ``mpgraph`` entry points.
    block : str or list of str, optional
        Plugin names or distribution names not to load.
    strict : bool, optional
        Raise :class:`PluginError` on any plugin problem instead of warning.

    Returns
    -------
    list of str
        Every problem found (also warned about, or raised in strict mode).
    """
    with _lock:
        _build(autoload, block, strict)
        return _report(_load_problems + _rebuild(), stacklevel=3)


def _build(autoload: bool | None, block: str | list[str] | None, strict: bool | None) -> None:
    global _pm, _ops, _observers, _load_problems, _strict
    if autoload is None:
        autoload = not os.environ.get(ENV_NO_AUTOLOAD)
    if block is None:
        block = os.environ.get(ENV_BLOCK, "")
    if isinstance(block, str):
        block = block.replace(",", " ").split()
    _strict = bool(os.environ.get(ENV_STRICT)) if strict is None else strict
    pm = pluggy.PluginManager("mpgraph")
    pm.add_hookspecs(specs)
    for name in block:
        pm.set_blocked(name)
    for modname in BUILTIN:
        if not pm.is_blocked(modname):
            pm.register(importlib.import_module(modname), name=modname)
    _load_problems = _load_entry_points(pm, set(block)) if autoload else []
    _pm, _ops, _observers = pm, None, None


def _load_entry_points(pm: pluggy.PluginManager, blocked: set[str]) -> list[str]:
    """Load each ``mpgraph`` entry point on its own, so that one that fails to import is
    reported by name and the others still load."""
    problems = []
    seen = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else None
        if ep.name in seen or ep.name in blocked or dist in blocked:
            continue
        seen.add(ep.name)
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=ep.name)
        except Exception as e:  # noqa: BLE001 - a broken plugin must not stop the others
            where = f" (distribution {dist} {ep.dist.version})" if ep.dist is not None else ""
            problems.append(
                f"plugin '{ep.name}'{where} failed to load {ep.value!r}: {type(e).__name__}: {e}"
            )
    return problems


def distribution(plugin_name: str) -> tuple[str, str] | None:
    """``(name, version)`` of the distribution that installed plugin ``plugin_name``, or
    ``None`` for a built-in plugin or one registered at run time."""
    pm = plugin_manager()
    plugin = pm.get_plugin(plugin_name)
    for p, dist in pm.list_plugin_distinfo():
        if p is plugin:
            return dist.project_name, dist.version
    return None


def describe(plugin_name: str) -> str:
    """``plugin 'conv' (distribution mpgraph-conv 0.1.0)``: how errors name a plugin."""
    dist = distribution(plugin_name)
    return f"plugin '{plugin_name}'" + (f" (distribution {dist[0]} {dist[1]})" if dist else "")


# -- registering at run time -------------------------------------------------------------------


def register(plugin: Any, name: str | None = None) -> str:
    """Register a plugin (a module or an object with ``@mg.hookimpl`` functions) for the
    whole process, until :func:`unregister`.

    Returns
    -------
    str
        The name it was registered under.

    Raises
    ------
    PluginError
        When its op definitions are malformed or clash with another plugin's, when its name is
        taken or blocked; the plugin is then not registered.
    """
    with _lock:
        pm = plugin_manager()
        if name is None:  # readable, and unique, so that errors name something a user knows
            base = getattr(plugin, "__name__", None) or type(plugin).__name__
            name, k = base, 1
            while pm.get_plugin(name) is not None:
                k += 1
                name = f"{base}-{k}"
        try:
            registered = pm.register(plugin, name=name)
        except ValueError as e:
            raise PluginError(f"mpgraph: plugin '{name}' was not registered: {e}") from None
        if registered is None:
            raise PluginError(f"mpgraph: plugin '{name}' is blocked and was not registered")
        if not pm.get_hookcallers(plugin):  # pluggy ignores methods without the marker
            pm.unregister(name=name)
            unmarked = [h for h in ("mpgraph_ops", *OBSERVER_HOOKS) if hasattr(plugin, h)]
            raise PluginError(
                f"mpgraph: plugin '{name}' was not registered: it implements no mpgraph hook"
                + (
                    f"; its {', '.join(unmarked)} must be marked with @mg.hookimpl"
                    if unmarked
                    else " (mark mpgraph_ops or an observer hook with @mg.hookimpl)"
                )
            )
        problems = [p for p in _rebuild() if f"plugin '{name}'" in p]
        if problems:
            pm.unregister(name=name)
            _rebuild()
            raise PluginError(
                f"mpgraph: plugin '{name}' was not registered:\n  " + "\n  ".join(problems)
            )
        return name


def unregister(name: str) -> None:
    """Remove the plugin registered under ``name``.

    Raises
    ------
    PluginError
        When no plugin has that name.
    """
    with _lock:
        pm = plugin_manager()
        if pm.get_plugin(name) is None:
            raise PluginError(
                f"mpgraph: no plugin named '{name}' is registered "
                f"(registered: {', '.join(sorted(n for n, _ in pm.list_name_plugin()))})"
            )
        pm.unregister(name=name)
        _rebuild()


def block(name: str) -> None:
    """Unregister plugin ``name`` if it is registered, and refuse it from now on (until
    :func:`reload`), like pytest's ``-p no:NAME``."""
    with _lock:
        pm = plugin_manager()
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)
        pm.set_blocked(name)
        _rebuild()


@contextlib.contextmanager
def enabled(*plugins: Any) -> Iterator[None]:
    """Enable observer plugins for the runs started inside the block, in this thread only.

    A run keeps the observers it started with, so ``run.backward()`` called after the block
    still reports to them. Blocks nest. Op definitions are process-wide: register a plugin
    that provides ops with :func:`register`.

    Raises
    ------
    PluginError
        A plugin implements ``mpgraph_ops`` or no observer hook at all.

    Examples
    --------
    >>> import mpgraph as mg
    >>> class Count:
    ...     n = 0
    ...     @mg.hookimpl
    ...     def mpgraph_node_value(self, node):
    ...         Count.n += 1
    >>> g = mg.Graph()
    >>> y = g.input("x") * 2.0
    >>> with mg.plugins.enabled(Count()):
    ...     _ = g.forward(y, {"x": 1.0})
    >>> _ = g.forward(y, {"x": 1.0})     # outside the block: not observed
    >>> Count.n                          # x, the constant 2.0 and y
    3
    """
    outer = _scoped.get()
    pm = pluggy.PluginManager("mpgraph")
    pm.add_hookspecs(specs)
    for _, p in outer.list_name_plugin() if outer is not None else ():  # in order
        pm.register(p)
    for p in plugins:
        try:
            pm.register(p)
        except ValueError as e:
            raise PluginError(f"mpgraph: plugin {p!r} cannot be enabled: {e}") from None
        hooks = [h.name for h in pm.get_hookcallers(p) or []]
        if "mpgraph_ops" in hooks or not any(h in OBSERVER_HOOKS for h in hooks):
            raise PluginError(
                f"mpgraph: plugin {p!r} cannot be enabled for a block: only observer "
                f"hooks ({', '.join(OBSERVER_HOOKS)}) can be; it implements "
                f"{', '.join(hooks) or 'no hook'} (use mg.plugins.register)"
            )
    token = _scoped.set(pm)
    try:
        yield
    finally:
        _scoped.reset(token)


# -- the op table -------------------------------------------------------------------------------


def ops() -> dict[str, Op]:
    """The registered ops by name."""
    table = _ops
    if table is None:
        with _lock:
            if _ops is None:
                plugin_manager()
                _report(_load_problems + _rebuild(), stacklevel=4)
            table = _ops
    return table


def on_rebuild(callback) -> None:
    """Call ``callback()`` after every rebuild of the op table, so that a cache of what the
    table held (such as ``mg.ops``'s functions) is dropped."""
    _on_rebuild.append(callback)


def problems() -> list[str]:
    """Every plugin problem of the current plugin set: failed imports, malformed ops, clashes."""
    with _lock:
        ops()
        return _load_problems + _rebuild()


def _report(found: list[str], stacklevel: int) -> list[str]:
    global _ops, _observers
    if found:
        text = "mpgraph: plugin problems (those plugins or ops are left out):\n  " + "\n  ".join(
            found
        )
        if _strict:  # no op table until the problems are fixed: every reader gets the error
            _ops = _observers = None
            raise PluginError(text)
        warnings.warn(text, stacklevel=stacklevel)
    return found


def get_op(name: str | Op) -> Op:
    """The op registered as ``name``.

    Raises
    ------
    UnknownOpError
        When no plugin defines that op; the message suggests close names, ignoring case.
    """
    if isinstance(name, Op):
        return name
    table = ops()
    try:
        return table[name]
    except KeyError:
        lower = {k.lower(): k for k in table}  # PyTorch's ReLU is relu here
        close = [lower[k] for k in difflib.get_close_matches(str(name).lower(), lower, n=3)]
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise UnknownOpError(f"mpgraph: unknown op '{name}'{hint}") from None


def observers() -> tuple:
    """The observer hook callers that have implementations, as
    ``(node_value, message, error_signal)``, each ``None`` when no plugin implements it.

    Called once per run: the engine's loops test these for ``None`` and never call pluggy
    when no observer is enabled.
    """
    obs = _observers
    if obs is None:
        with _lock:
            ops()
            obs = _observers
    scoped = _scoped.get()
    return obs if scoped is None else _with_scoped(obs, scoped)


class Observer:
    """The implementations of one observer hook, called in pluggy's order (last registered
    first) without pluggy's per-call machinery: each gets only the arguments it names.

    The one place hook implementations are called from the engine's loops: observing
    (:meth:`__call__`) and relaying a value through each implementation in turn
    (:meth:`relay`, for ``mpgraph_message``) both go through :meth:`_call`, which honours
    pluggy's new-style hook wrappers (``@mg.hookimpl(wrapper=True)``): each wrapper runs up to
    its ``yield`` before the other implementations and receives their outcome after them. An
    exception that escapes is reported as the plugin's (:func:`observer_error`), not the op's.
    """

    __slots__ = ("impls", "hook", "_plain", "_wrappers")

    def __init__(self, impls: list, hook: str) -> None:
        self.impls = impls
        self.hook = hook
        self._plain = [i for i in reversed(impls) if not i.wrapper]
        self._wrappers = [i for i in reversed(impls) if i.wrapper]

    def __call__(self, **kwargs: Any) -> None:
        if not self._wrappers:  # the loop of every observed run: no generator machinery
            for impl in self._plain:
                try:
                    impl.function(*[kwargs[a] for a in impl.argnames])
                except Exception as e:
                    raise observer_error(impl, self.hook, e, kwargs) from e
            return
        self._call(kwargs, None, None)

    def relay(self, key: str, check: Callable[[Any, Any, Any], None], **kwargs: Any) -> Any:
        """Pass ``kwargs[key]`` through each implementation in turn: one that returns a value
        replaces it for the next, after ``check(impl, old, new)``. Returns the final value."""
        return self._call(kwargs, key, check)

    def get_hookimpls(self) -> list:
        return self.impls

    def _call(self, kwargs: dict, key: str | None, check) -> Any:
        started = []
        result: Any = None
        error: BaseException | None = None
        culprit = None  # the implementation whose exception is pending
        try:
            for impl in self._wrappers:  # outermost first, as pluggy calls them
                culprit = impl
                gen = impl.function(*[kwargs[a] for a in impl.argnames])
                next(gen)
                started.append((impl, gen))
            for impl in self._plain:
                culprit = impl
                out = impl.function(*[kwargs[a] for a in impl.argnames])
                if key is not None and out is not None:
                    check(impl, kwargs[key], out)
                    kwargs[key] = out
            result = kwargs[key] if key is not None else None
        except Exception as e:  # handed to the wrappers, as pluggy does
            error = e
        for impl, gen in reversed(started):  # innermost first
            try:
                if error is None:
                    gen.send(result)
                else:
                    gen.throw(error)
            except StopIteration as stop:
                result, error = stop.value, None
                if key is not None:
                    if result is None:
                        raise PluginError(
                            f"mpgraph: hook wrapper {impl.plugin_name!r} returned "
                            f"None from {key!r}: return what its yield gave"
                        ) from None
                    check(impl, kwargs[key], result)
            except Exception as e:  # the next wrapper out sees it
                error, culprit = e, (culprit if e is error else impl)
            else:
                error, culprit = (
                    PluginError(
                        f"mpgraph: hook wrapper {impl.plugin_name!r} yielded more than once"
                    ),
                    impl,
                )
        if error is not None:
            raise observer_error(culprit, self.hook, error, kwargs) from error
        return result


def observer_error(impl: Any, hook: str, error: Exception, kwargs: dict) -> Exception:
    """The error to raise when observer ``impl`` of ``hook`` raised ``error``: its own when it
    is an mpgraph error (an observer may stop a run on purpose), else a PluginError naming
    the plugin and the hook, so that the op of the node it was observing is not blamed."""
    if isinstance(error, MpgraphError):
        return error
    node = kwargs.get("node", kwargs.get("child"))
    where = f" on node '{node.name}'" if node is not None else ""
    name = impl.plugin_name  # pluggy names an unnamed plugin by its id: name its class then
    name = type(impl.plugin).__name__ if name.isdigit() else name
    return PluginError(
        f"mpgraph: {describe(name)}: its {hook} hook raised{where}: {type(error).__name__}: {error}"
    )


def _observer(*callers, hook: str = "") -> Observer | None:
    """One caller for the implementations of a hook across plugin managers, or None when
    there are none."""
    impls = [impl for c in callers if c is not None for impl in c.get_hookimpls()]
    for impl in impls:
        if impl.hookwrapper:
            raise PluginError(
                f"mpgraph: plugin {impl.plugin_name!r} implements "
                f"{impl.function.__name__} as an old-style hookwrapper: use "
                "@mg.hookimpl(wrapper=True)"
            )
    return Observer(impls, hook) if impls else None


def _with_scoped(obs: tuple, pm: pluggy.PluginManager) -> tuple:
    return tuple(
        _observer(glob, getattr(pm.hook, name), hook=name)
        for glob, name in zip(obs, OBSERVER_HOOKS)
    )


def _rebuild() -> list[str]:
    """Collect every plugin's ops into the table; return every problem found, all together."""
    global _ops, _observers
    pm = plugin_manager()
    table: dict[str, Op] = {}
    problems: list[str] = []
    for impl in pm.hook.mpgraph_ops.get_hookimpls():  # in registration order: the first wins
        plugin = impl.plugin_name
        try:
            defs = list(impl.function() or [])
        except Exception as e:  # noqa: BLE001 - a broken plugin must not stop the others
            problems.append(f"{describe(plugin)}: mpgraph_ops() raised {type(e).__name__}: {e}")
            continue
        for op in defs:
            problem = _malformed(op)
            if problem:
                problems.append(f"{describe(plugin)}: {problem}")
                continue
            if op.name in table:
                other = table[op.name].plugin
                problems.append(
                    f"op '{op.name}' is defined twice by {describe(plugin)}"
                    if other == plugin
                    else f"op '{op.name}' is defined by both {describe(other)} and "
                    f"{describe(plugin)}"
                )
                continue
            op.plugin = plugin
            table[op.name] = op
    hooks = pm.hook
    _observers = tuple(_observer(getattr(hooks, name), hook=name) for name in OBSERVER_HOOKS)
    _ops = table
    for forget in _on_rebuild:
        forget()
    return problems


def _malformed(op: Any) -> str | None:
    """What is wrong with an op definition that its constructor could not see, or None."""
    if not isinstance(op, Op):
        return f"mpgraph_ops() returned {op!r}, not an mpgraph.Op"
    if not op.variadic and op.nargs == 0:
        return (
            f"op '{op.name}' has no array argument: its vjp is empty (give one vjp "
            "function, or None, per array argument of forward)"
        )
    if not op.variadic and (not isinstance(op.vjp, tuple) or len(op.vjp) != op.nargs):
        return f"op '{op.name}': vjp no longer has one entry per array argument ({op.nargs})"
    return None
