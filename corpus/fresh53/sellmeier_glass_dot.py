"""Fit a two-term Sellmeier dispersion law to noisy prism refractometer data.

n(l)^2 = 1 + B1 l^2/(l^2 - C1) + B2 l^2/(l^2 - C2),  l in micrometres.
The four coefficients are kept in log space as raw arrays on an nn.Module.
The fit history is written as a Graphviz digraph (one node per checkpoint).
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class Sellmeier(nn.Module):
    def __init__(self):
        super().__init__()
        # deliberately rough starting guesses
        self.log_b = mx.array(np.log([0.7, 0.5]).astype(np.float32))
        self.log_c = mx.array(np.log([0.003, 0.06]).astype(np.float32))

    def __call__(self, lam):
        b = mx.exp(self.log_b)
        c = mx.exp(self.log_c)
        l2 = (lam * lam)[:, None]
        n2 = 1.0 + (b * l2 / (l2 - c)).sum(axis=1)
        return mx.sqrt(n2)


def true_index(lam):
    b = np.array([1.0396, 0.2318])
    c = np.array([0.0060, 0.0200])
    l2 = lam[:, None] ** 2
    return np.sqrt(1.0 + (b * l2 / (l2 - c)).sum(axis=1))


def main():
    rng = np.random.default_rng(11)
    lam = np.sort(rng.uniform(0.40, 1.60, size=80))
    n_obs = true_index(lam) + rng.normal(0, 2e-4, size=lam.shape)
    lam_te = np.linspace(0.42, 1.58, 40)
    n_te = true_index(lam_te)

    lam_x, n_y = mx.array(lam.astype(np.float32)), mx.array(n_obs.astype(np.float32))
    lam_t, n_t = mx.array(lam_te.astype(np.float32)), mx.array(n_te.astype(np.float32))

    model = Sellmeier()
    mx.eval(model.parameters())

    def loss_fn(m, x, y):
        return ((m(x) - y) ** 2).mean() * 1e6  # in (1e-3)^2 units

    vg = nn.value_and_grad(model, loss_fn)
    opt = optim.Adam(learning_rate=optim.cosine_decay(0.03, 6000, end=1e-4))

    lines = ["digraph sellmeier_fit {", "  rankdir=LR;", '  node [shape=box, fontname="Courier"];']
    prev = None
    for it in range(6001):
        loss, grads = vg(model, lam_x, n_y)
        if it == 0:
            gn = {k: float(mx.abs(g).max()) for k, g in tree_flatten(grads)}
            lines.append('  grads0 [shape=note, label="step0 max|grad|: %s"];'
                         % ", ".join(f"{k}={v:.2e}" for k, v in gn.items()))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 500 == 0:
            test_rmse = float(mx.sqrt(((model(lam_t) - n_t) ** 2).mean())) * 1e4
            b = np.exp(np.array(model.log_b)); c = np.exp(np.array(model.log_c))
            node = f"s{it}"
            lines.append(
                f'  {node} [label="step {it}\\ntrain_mse(1e-6) {float(loss):.4f}\\n'
                f'test_rmse(1e-4) {test_rmse:.3f}\\nB=({b[0]:.4f},{b[1]:.4f}) '
                f'C=({c[0]:.5f},{c[1]:.5f})"];')
            if prev is not None:
                lines.append(f"  {prev} -> {node};")
            prev = node
    lines.append("}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
