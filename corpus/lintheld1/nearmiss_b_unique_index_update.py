"""Temporal ensembling (semi-supervised): every sample keeps an EMA of the
model's past predictions; each minibatch is a slice of a permutation, so the
sample ids inside one batch are all different."""
import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N, D, K = 1200, 6, 3


def data(seed=0):
    mx.random.seed(seed)
    centers = mx.random.normal((K, D)) * 2.5
    y = mx.random.randint(0, K, (N,))
    x = centers[y] + mx.random.normal((N, D))
    labelled = mx.random.uniform(shape=(N,)) < 0.1
    return x, y, labelled


def main(alpha=0.6, epochs=8, batch=100, w_cons=1.0):
    x, y, labelled = data()
    net = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, K))
    opt = optim.Adam(learning_rate=5e-3)
    ensemble = mx.zeros((N, K))

    def objective(net, xb, yb, lb, target):
        logits = net(xb + 0.2 * mx.random.normal(xb.shape))
        ce = nn.losses.cross_entropy(logits, yb, reduction="none")
        sup = (ce * lb).sum() / mx.maximum(lb.sum(), 1.0)
        cons = ((mx.softmax(logits, axis=-1) - target) ** 2).sum(axis=-1).mean()
        return sup + w_cons * cons, mx.softmax(logits, axis=-1)

    vg = nn.value_and_grad(net, objective)
    for epoch in range(epochs):
        perm = mx.random.permutation(N)
        for i in range(0, N, batch):
            ids = perm[i:i + batch]
            before = np.array(ensemble)
            (loss, probs), grads = vg(net, x[ids], y[ids], labelled[ids].astype(mx.float32),
                                      mx.stop_gradient(ensemble[ids]))
            opt.update(net, grads)
            ensemble[ids] += (1 - alpha) * (mx.stop_gradient(probs) - ensemble[ids])
            mx.eval(net.parameters(), opt.state, ensemble)
        ids_np, p_np = np.array(ids), np.array(probs)
        before[ids_np] += (1 - alpha) * (p_np - before[ids_np])
        err = np.abs(before - np.array(ensemble)).max()
        acc = (net(x).argmax(-1) == y).mean().item()
        print(f"epoch {epoch} loss {loss.item():.4f} acc(all) {acc:.3f} ema-update err vs numpy {err:.1e}")


if __name__ == "__main__":
    main()
