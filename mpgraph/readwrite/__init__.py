"""Graphs to and from files: save/load (JSON + NPZ) and NetworkX, GraphML and JSON exports."""
