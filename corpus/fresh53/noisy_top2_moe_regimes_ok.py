"""Sparse mixture-of-experts regressor on a synthetic 4-regime dataset.

Noisy top-2 gating (softplus-scaled Gaussian noise on the router logits while
training), experts dispatched with numpy.where on the chosen indices, scores
renormalised over the two selected experts.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_EXPERTS = 4
TOP_K = 2
DIM = 8
HIDDEN = 64


def make_data(n, rng, centers, w):
    regime = rng.integers(0, N_EXPERTS, size=n)
    x = centers[regime] + rng.normal(size=(n, DIM))
    # each regime has its own nonlinear response
    base = np.einsum("nd,nd->n", x, w[regime])
    y = np.where(regime % 2 == 0, np.sin(base), 0.3 * base) + 0.5 * regime
    y = y + 0.05 * rng.normal(size=n)
    return mx.array(x.astype(np.float32)), mx.array(y[:, None].astype(np.float32))


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(DIM, HIDDEN)
        self.down = nn.Linear(HIDDEN, 1)

    def __call__(self, x):
        return self.down(nn.silu(self.up(x)))


class SparseMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(DIM, N_EXPERTS, bias=False)
        self.noise_linear = nn.Linear(DIM, N_EXPERTS, bias=False)
        self.experts = [Expert() for _ in range(N_EXPERTS)]

    def __call__(self, x):
        ne = TOP_K
        gates = self.gate(x)
        if self.training:
            noise = mx.random.normal(gates.shape) * nn.softplus(self.noise_linear(x))
            gates = gates + noise

        inds = mx.stop_gradient(mx.argpartition(-gates, kth=ne, axis=-1))[:, :ne]

        scores = mx.softmax(mx.take_along_axis(gates, inds, axis=-1), axis=-1)

        y = mx.zeros((x.shape[0], ne, 1))
        inds_np = np.array(inds)
        for e, expert in enumerate(self.experts):
            idx1, idx2 = map(mx.array, np.where(inds_np == e))
            if idx1.size == 0:
                continue
            y[idx1, idx2] = expert(x[idx1])
        return (y * scores[:, :, None]).sum(axis=1), inds


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    centers = rng.normal(size=(N_EXPERTS, DIM)) * 2.5
    w = rng.normal(size=(N_EXPERTS, DIM)) / np.sqrt(DIM)
    x_tr, y_tr = make_data(8192, rng, centers, w)
    x_va, y_va = make_data(1024, rng, centers, w)

    model = SparseMoE()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(m, xb, yb):
        pred, _ = m(xb)
        return nn.losses.mse_loss(pred, yb)

    step = nn.value_and_grad(model, loss_fn)
    bs = 64
    print(f"train {x_tr.shape[0]}  val {x_va.shape[0]}  experts {N_EXPERTS} (top-{TOP_K})")
    t0 = time.time()
    for epoch in range(1, 13):
        model.train()
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        tot, nb = 0.0, 0
        for i in range(0, x_tr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = step(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        model.eval()
        pred, inds = model(x_va)
        val = nn.losses.mse_loss(pred, y_va).item()
        usage = np.bincount(np.array(inds).ravel(), minlength=N_EXPERTS) / inds.size
        print(f"epoch {epoch}  train_mse {tot / nb:.4f}  val_mse {val:.4f}  "
              f"usage [{' '.join(f'{u:.2f}' for u in usage)}]  {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
