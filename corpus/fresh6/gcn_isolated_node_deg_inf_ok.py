"""Two-layer GCN (symmetric normalisation D^-1/2 A D^-1/2) for node
classification on a batch of small synthetic 'molecule' graphs.

Nodes carry a noisy one-hot of their class; the class is mostly shared with
neighbours, so message passing helps.  Some graphs contain detached atoms
(nodes with no bonds).
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
mx.random.seed(21)
C, F = 3, 8


def make_graph(n, isolated=0):
    comm = rng.integers(0, C, n)
    src, dst = [], []
    for i in range(n - isolated):
        for j in range(i + 1, n - isolated):
            p = 0.5 if comm[i] == comm[j] else 0.03
            if rng.random() < p:
                src += [i, j]
                dst += [j, i]
    x = rng.normal(size=(n, F)).astype(np.float32)
    x[np.arange(n), comm] += 0.8
    return (mx.array(x), mx.array(np.array(src, np.int32)), mx.array(np.array(dst, np.int32)),
            mx.array(comm), n)


# 20 graphs; graph 13 has two atoms without any bond
graphs = [make_graph(30, isolated=2 if k == 13 else 0) for k in range(20)]


class GCNLayer(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.lin = nn.Linear(din, dout)

    def __call__(self, x, src, dst, n):
        deg = mx.zeros((n,)).at[dst].add(1.0)
        dinv = mx.where(deg > 0, deg, 1.0) ** -0.5 * (deg > 0)
        h = self.lin(x)
        msg = h[src] * dinv[src][:, None]
        agg = mx.zeros_like(h).at[dst].add(msg)
        return agg * dinv[:, None]


class GCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = GCNLayer(F, 16)
        self.l2 = GCNLayer(16, C)

    def __call__(self, x, src, dst, n):
        return self.l2(nn.relu(self.l1(x, src, dst, n)), src, dst, n)


def loss_fn(model, x, src, dst, y, n):
    return nn.losses.cross_entropy(model(x, src, dst, n), y, reduction="mean")


model = GCN()
opt = optim.AdamW(learning_rate=1e-2, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)

print(f"{'epoch':>5} | {'nll':>8} | {'acc':>6}")
for epoch in range(1, 26):
    tot, correct, count = 0.0, 0, 0
    for g in graphs:
        loss, grads = vg(model, *g)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        pred = mx.argmax(model(g[0], g[1], g[2], g[4]), axis=1)
        correct += (pred == g[3]).sum().item()
        count += g[4]
    print(f"{epoch:>5} | {tot / len(graphs):8.4f} | {correct / count:6.3f}")
