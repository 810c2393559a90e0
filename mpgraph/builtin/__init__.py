"""The built-in ops, each module a plugin registered through the ``mpgraph_ops`` hook."""
