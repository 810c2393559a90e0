"""Mean-field variational Bayesian linear regression: mg.grad on a pytree of parameters.

q(w) = N(mu, diag(exp(2 rho))), prior N(0, I), y ~ N(Xw, noise). The negative ELBO is exact here:
    ||X mu - y||^2 / (2 noise) + sum_j exp(2 rho_j) ||X_j||^2 / (2 noise) + KL(q || prior).
The parameters are a dict; mg.grad takes positional arrays, so mg.tree flattens and rebuilds it.
Adam on the dict finds mu = the exact posterior mean and exp(2 rho_j) = 1 / (1 + ||X_j||^2/noise).

    PYTHONPATH=$PWD python examples/variational_regression.py
"""

import numpy as np

import mpgraph as mg

NOISE = 0.25


def neg_elbo(params, X, y):
    mu, rho = params["mu"], params["rho"]
    r = X @ mu - y
    var = mg.ops.exp(2.0 * rho)
    fit = (mg.ops.sum(r * r) + mg.ops.sum(var * np.sum(X * X, axis=0))) / (2 * NOISE)
    kl = 0.5 * mg.ops.sum(var + mu * mu - 1.0 - 2.0 * rho)
    return fit + kl


def train(X, y, steps=2000):
    params = {"mu": np.zeros(X.shape[1]), "rho": np.zeros(X.shape[1])}
    leaves, treedef = mg.tree.tree_flatten(params)
    grad = mg.grad(
        lambda *ls: neg_elbo(mg.tree.tree_unflatten(treedef, ls), X, y),
        argnums=tuple(range(len(leaves))),
    )
    opt = mg.optim.Optimizer(mg.optim.adam(0.05), params)
    for _ in range(steps):
        grads = grad(*mg.tree.tree_leaves(opt.params))
        opt.step(mg.tree.tree_unflatten(treedef, list(grads)))
    return opt.params


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=np.sqrt(NOISE), size=n)
    return X, y


if __name__ == "__main__":
    X, y = data()
    p = train(X, y)
    print("posterior mean", p["mu"], "posterior sd", np.exp(p["rho"]))
