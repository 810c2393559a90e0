"""Pictures of graphs: notation, what to draw, labels, edges, the dot runner, stepping."""
