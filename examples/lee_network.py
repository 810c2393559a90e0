"""Lee's 2-2-2-2 sigmoid network with the weights of his backpropagation slides.

Input (1, -1); the forward pass gives 0.98, 0.12 / 0.86, 0.11 / 0.62, 0.83. The backward pass
(loss: the sum of the two outputs, so each output's error signal starts at 1) prints the error
signal dl/dz at every neuron's input z, as the slides' reverse network computes it.

    PYTHONPATH=$PWD python examples/lee_network.py
"""

import numpy as np

import mpgraph as mg

# (weights into neuron 1, weights into neuron 2) and biases, layer by layer, from the slides
LAYERS = [
    (np.array([[1.0, -1.0], [-2.0, 1.0]]), np.array([1.0, 0.0])),
    (np.array([[2.0, -2.0], [-1.0, -1.0]]), np.array([0.0, 0.0])),
    (np.array([[3.0, -1.0], [-1.0, 4.0]]), np.array([-2.0, 2.0])),
]


def build():
    """The graph: x -> (z = a W + b, a = sigmoid(z)) three times -> l = sum of the outputs."""
    g = mg.Graph()
    a = g.input("x", shape=(2,))
    zs, acts = [], []
    for i, (W, b) in enumerate(LAYERS, start=1):
        with g.scope(f"layer{i}"):
            z = a @ g.param("W", W) + g.param("b", b)
            a = mg.ops.sigmoid(z)
        zs.append(z)
        acts.append(a)
    return g, zs, acts, mg.ops.sum(a)


def main():
    g, zs, acts, loss = build()
    run = g.forward(loss, {"x": np.array([1.0, -1.0])}).backward(loss)
    for i, (z, a) in enumerate(zip(zs, acts), start=1):
        print(
            f"layer {i}: z = {np.round(run[z], 4)}, sigmoid(z) = {np.round(run[a], 2)}, "
            f"dl/dz = {np.round(run.grad(z), 4)}"
        )
    return run, zs, acts


if __name__ == "__main__":
    main()
