"""Orb-web survey: classify each silk junction (anchor / radial / spiral) with a
two-layer GCN over the strand graph of a synthetic web."""
import time
from typing import Literal, Optional, get_args

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

ScatterAggregations = Literal["add", "max", "mean"]


def scatter(
    values: mx.array,
    index: mx.array,
    out_size: Optional[int] = None,
    aggr: ScatterAggregations = "add",
    axis: int = 0,
) -> mx.array:
    """Scatters `values` at `index` in an empty array of `out_size` elements."""
    if aggr not in get_args(ScatterAggregations):
        raise ValueError(f"Unknown aggregation {aggr}")
    _out_size: int = out_size if out_size is not None else values.shape[0]
    if aggr == "mean":
        total = scatter(values, index, _out_size, "add", axis)
        count = scatter(mx.ones_like(values), index, _out_size, "add", axis)
        return total / mx.maximum(count, 1)

    out_shape = values.shape
    out_shape[axis] = _out_size

    empty_tensor = mx.zeros(out_shape, dtype=values.dtype)
    if aggr == "max":
        return empty_tensor.at[index].maximum(values)
    return empty_tensor.at[index].add(values)


def degree(index: mx.array, num_nodes: int) -> mx.array:
    return scatter(mx.ones((index.shape[0],)), index, num_nodes, "add")


class GCNConv(nn.Module):
    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = mx.zeros((out_dim,))

    def __call__(self, edge_index, x):
        n = x.shape[0]
        loops = mx.arange(n)
        src = mx.concatenate([edge_index[0], loops])
        dst = mx.concatenate([edge_index[1], loops])
        deg = degree(dst, n)
        inv_sqrt = mx.rsqrt(deg)
        norm = inv_sqrt[src] * inv_sqrt[dst]
        h = self.linear(x)
        messages = h[src] * norm[:, None]
        return scatter(messages, dst, n, "add") + self.bias


class GCN(nn.Module):
    def __init__(self, in_dim, hidden, n_classes, dropout=0.5):
        super().__init__()
        self.conv1 = GCNConv(in_dim, hidden)
        self.conv2 = GCNConv(hidden, n_classes)
        self.drop = nn.Dropout(dropout)

    def __call__(self, edge_index, x):
        h = nn.relu(self.conv1(edge_index, self.drop(x)))
        return self.conv2(edge_index, self.drop(h))


def make_web(rng, n=600, k=3, feat=16):
    y = rng.integers(0, k, n)
    src, dst = [], []
    for i in range(n):
        for _ in range(4):
            if rng.random() < 0.8:
                j = rng.choice(np.flatnonzero(y == y[i]))
            else:
                j = rng.integers(0, n)
            if j != i:
                src += [i, j]
                dst += [j, i]
    centers = rng.normal(size=(k, feat)) * 0.6
    x = centers[y] + rng.normal(size=(n, feat)) * 1.5
    return np.array([src, dst]), x.astype(np.float32), y


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    ei, x, y = make_web(rng)
    n = x.shape[0]
    perm = rng.permutation(n)
    train_idx, val_idx, test_idx = perm[:90], perm[90:290], perm[290:]
    edge_index, x, y = mx.array(ei), mx.array(x), mx.array(y)
    tr, va, te = mx.array(train_idx), mx.array(val_idx), mx.array(test_idx)
    print(f"junctions={n} strands={ei.shape[1] // 2} labelled={len(train_idx)}")

    model = GCN(x.shape[1], 32, 3)
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=1e-2, weight_decay=5e-3)

    def loss_fn(model):
        logits = model(edge_index, x)
        return nn.losses.cross_entropy(logits[tr], y[tr], reduction="mean")

    def accuracy(idx):
        model.eval()
        pred = mx.argmax(model(edge_index, x), axis=1)
        model.train()
        return mx.mean(pred[idx] == y[idx]).item()

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for epoch in range(1, 201):
        loss, grads = loss_and_grad(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if epoch == 1 or epoch % 20 == 0:
            print(
                f"epoch {epoch:3d} | loss {loss.item():.4f} | val acc {accuracy(va):.3f} "
                f"| {time.time() - t0:.1f}s"
            )
    print(f"test acc {accuracy(te):.3f} (chance 0.333)")


if __name__ == "__main__":
    main()
