"""The engine: node handles, the graph, schedules and backward plans, runs, tracing and
symbolic gradients: Grosse's backprop as message passing."""
# Graphs pickle as their structure: registered with copyreg by this module, which builds on graph.
from . import pickling  # noqa: F401
