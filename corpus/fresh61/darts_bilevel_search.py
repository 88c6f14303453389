"""Tiny DARTS-style differentiable architecture search on a synthetic regression task.

Each of the 3 cells mixes 4 candidate ops (identity, tanh-linear, relu-linear, sin-linear)
with softmax(alpha) weights.  Network weights w are trained with SGD+momentum on the
training split; the architecture logits alpha are trained with Adam on a separate
validation split (first-order DARTS: alternate one w-step and one alpha-step).
At the end the op with the largest alpha is kept per cell ("derived architecture").
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

OPS = ["id", "tanh", "relu", "sin"]
WIDTH = 24


class MixedCell(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.lin_tanh = nn.Linear(width, width)
        self.lin_relu = nn.Linear(width, width)
        self.lin_sin = nn.Linear(width, width)

    def __call__(self, x, weights):
        outs = [
            x,
            mx.tanh(self.lin_tanh(x)),
            nn.relu(self.lin_relu(x)),
            mx.sin(self.lin_sin(x)),
        ]
        return sum(w * o for w, o in zip(weights, outs))


class SearchNet(nn.Module):
    def __init__(self, n_in, width, n_cells):
        super().__init__()
        self.stem = nn.Linear(n_in, width)
        self.cells = [MixedCell(width) for _ in range(n_cells)]
        self.head = nn.Linear(width, 1)

    def __call__(self, x, alphas):
        h = self.stem(x)
        for i, cell in enumerate(self.cells):
            h = cell(h, mx.softmax(alphas[i]))
        return self.head(h).squeeze(-1)


class Arch(nn.Module):
    """Holds the architecture logits as the single trainable leaf."""

    def __init__(self, n_cells, n_ops):
        super().__init__()
        self.alpha = 1e-3 * mx.random.normal((n_cells, n_ops))


def make_data(n, key):
    x = mx.random.uniform(-2.0, 2.0, (n, 4), key=key)
    y = mx.sin(2.0 * x[:, 0]) * x[:, 1] + 0.5 * mx.sin(3.0 * x[:, 2]) - 0.3 * x[:, 3]
    noise = 0.05 * mx.random.normal((n,), key=mx.random.split(key)[0])
    return x, y + noise


def main():
    mx.random.seed(11)
    keys = mx.random.split(mx.random.key(3), 3)
    xtr, ytr = make_data(3072, keys[0])
    xva, yva = make_data(512, keys[1])
    xte, yte = make_data(512, keys[2])

    net = SearchNet(4, WIDTH, 3)
    arch = Arch(3, len(OPS))
    w_opt = optim.SGD(learning_rate=0.03, momentum=0.9)
    a_opt = optim.Adam(learning_rate=3e-3)

    def w_loss(net, x, y):
        return nn.losses.mse_loss(net(x, arch.alpha), y)

    def a_loss(arch, x, y):
        return nn.losses.mse_loss(net(x, arch.alpha), y)

    w_step = nn.value_and_grad(net, w_loss)
    a_step = nn.value_and_grad(arch, a_loss)

    # first-step gradient check (every leaf must get a signal)
    _, gw = w_step(net, xtr[:64], ytr[:64])
    _, ga = a_step(arch, xva[:64], yva[:64])
    dead = [k for k, g in tree_flatten(gw) + tree_flatten(ga) if float(mx.abs(g).max()) == 0.0]
    print(f"first-step grad check: {len(tree_flatten(gw)) + len(tree_flatten(ga))} leaves, zero-grad leaves: {dead}")

    bs = 64
    n_batches = xtr.shape[0] // bs
    for epoch in range(1, 61):
        perm = mx.random.permutation(xtr.shape[0])
        vperm = mx.random.permutation(xva.shape[0])
        tr_sum = 0.0
        for b in range(n_batches):
            idx = perm[b * bs:(b + 1) * bs]
            loss, g = w_step(net, xtr[idx], ytr[idx])
            w_opt.update(net, g)
            vidx = vperm[(b * bs) % xva.shape[0]:(b * bs) % xva.shape[0] + bs]
            _, ga = a_step(arch, xva[vidx], yva[vidx])
            a_opt.update(arch, ga)
            mx.eval(net.parameters(), arch.parameters(), w_opt.state, a_opt.state, loss)
            tr_sum += loss.item()
        val = nn.losses.mse_loss(net(xva, arch.alpha), yva).item()
        probs = mx.softmax(arch.alpha, axis=-1)
        bars = "  ".join(
            "c%d[" % i + "".join("%s=%.2f " % (OPS[j], probs[i, j].item()) for j in range(len(OPS))).strip() + "]"
            for i in range(probs.shape[0])
        )
        if epoch % 5 and epoch != 1:
            continue
        print(f"ep {epoch:2d} | train mse {tr_sum / n_batches:.4f} | val mse {val:.4f} | {bars}")

    derived = [OPS[int(mx.argmax(arch.alpha[i]).item())] for i in range(arch.alpha.shape[0])]
    test = nn.losses.mse_loss(net(xte, arch.alpha), yte).item()
    print(f"derived cells: {derived}   test mse (mixed net): {test:.4f}   target var: {mx.var(yte).item():.4f}")


if __name__ == "__main__":
    main()
