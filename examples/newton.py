"""Newton's method with Hessian-vector products from nested mg.grad.

f(x) = sum(exp(x)) + x^T A x / 2 - b^T x; the Hessian is built column by column as
H e_i = grad(x -> grad(f)(x) . e_i), and each step solves H d = -grad f.

    PYTHONPATH=$PWD python examples/newton.py
"""

import numpy as np

import mpgraph as mg

A = np.array([[3.0, 1.0], [1.0, 2.0]])
B = np.array([1.0, -1.0])


def f(x):
    return mg.ops.sum(mg.ops.exp(x)) + 0.5 * mg.ops.sum(x * (x @ A)) - mg.ops.sum(B * x)


grad_f = mg.grad(f)


def hvp(x, v):
    """H(x) v: the gradient of the directional derivative grad f(x) . v."""
    return mg.grad(lambda y: mg.ops.sum(grad_f(y) * v))(x)


def newton(x, steps=8):
    for k in range(steps):
        g = np.asarray(grad_f(x))
        H = np.stack([np.asarray(hvp(x, e)) for e in np.eye(len(x))], axis=1)
        x = x - np.linalg.solve(H, g)
        print(f"step {k + 1}: x = {x}, |grad| = {np.linalg.norm(g):.3e}")
    return x


if __name__ == "__main__":
    newton(np.zeros(2))
