"""What the observer hooks cost: a scalar chain of 6,000 op nodes, forward + backward.

    python examples/observer_overhead.py

Rows: the built-in ops only (entry points not loaded); the installed plugins loaded
(mpgraph-anomaly and mpgraph-clip among them, which enable no observer by themselves); an
observer implementing all three hooks and doing nothing, enabled for the block; mpgraph-anomaly's
detector. Medians of interleaved repeats, in microseconds per op node.
"""

from __future__ import annotations

import statistics
import time

import mpgraph as mg


class Nothing:
    @mg.hookimpl
    def mpgraph_node_value(self, node, value):
        pass

    @mg.hookimpl
    def mpgraph_message(self, message):
        return None

    @mg.hookimpl
    def mpgraph_error_signal(self, node, signal):
        pass


def main(steps: int = 2000, repeats: int = 21) -> None:
    g = mg.Graph()
    x = g.input("x")
    y = x
    for _ in range(steps):
        y = mg.ops.tanh(y * -0.95 + 0.1)
    nodes = 3 * steps

    def once():
        g.forward(y, {"x": 0.3}).backward(y)

    once()
    contenders = {"built-ins only": "reload", "plugins installed": None, "3 empty hooks": Nothing()}
    try:
        import mpgraph_anomaly

        contenders["anomaly detector"] = mpgraph_anomaly.AnomalyDetector()
    except ImportError:
        pass
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeats):
        for name, plugin in contenders.items():
            if plugin == "reload":
                mg.plugins.reload(autoload=False)
            start = time.perf_counter()
            if plugin is None or plugin == "reload":
                once()
            else:
                with mg.plugins.enabled(plugin):
                    once()
            times[name].append(time.perf_counter() - start)
            if plugin == "reload":
                mg.plugins.reload()
    plugins = [
        p.name for p in mg.plugins.list_plugins() if not p.name.startswith("mpgraph.builtin")
    ]
    print(f"installed plugins loaded: {', '.join(plugins) or 'none'}")
    for name, ts in times.items():
        print(f"{name:18s} {1e6 * statistics.median(ts) / nodes:6.2f} us per op node")


if __name__ == "__main__":
    main()
