"""The engine: node handles, the graph, schedules and backward plans, runs, tracing and
symbolic gradients: Grosse's backprop as message passing."""
