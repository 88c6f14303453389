"""Aqueous solubility (logS) regression on small synthetic molecules with a GINE network.

Atoms carry element one-hots, bonds carry bond-order one-hots; the model is a
3-layer GIN with edge features (GINE) followed by sum pooling and a linear head.
"""
import time
from typing import Optional

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

ELEMENTS = ["C", "N", "O", "F", "Cl", "S"]
BONDS = ["single", "double", "triple", "aromatic"]
ATOM_CONTRIB = np.array([-0.35, 0.30, 0.45, -0.20, -0.55, -0.25])
# polar contribution of a bond depends on bond order and on the pair of elements
BOND_CONTRIB = np.array([0.05, -0.10, -0.20, -0.15])
HETERO = np.array([0, 1, 1, 0, 0, 1], dtype=bool)


def make_molecule(rng):
    n = int(rng.integers(6, 15))
    atoms = rng.choice(len(ELEMENTS), size=n, p=[0.55, 0.13, 0.15, 0.05, 0.05, 0.07])
    edges, btypes = [], []
    for i in range(1, n):
        j = int(rng.integers(0, i))
        edges.append((j, i))
        btypes.append(int(rng.choice(4, p=[0.62, 0.18, 0.04, 0.16])))
    n_ring = int(rng.integers(0, 3))
    for _ in range(n_ring):
        a, b = rng.choice(n, size=2, replace=False)
        if a != b and (a, b) not in edges and (b, a) not in edges:
            edges.append((int(a), int(b)))
            btypes.append(3)
    y = ATOM_CONTRIB[atoms].sum() * 0.6
    for (a, b), t in zip(edges, btypes):
        polar = HETERO[atoms[a]] ^ HETERO[atoms[b]]
        y += BOND_CONTRIB[t] + (0.55 if (polar and t == 0) else 0.0) - (0.35 if (polar and t == 1) else 0.0)
    y -= 0.25 * n_ring + 0.04 * n
    y += rng.normal(0, 0.15)
    return atoms, np.array(edges, dtype=np.int64), np.array(btypes), float(y)


def collate(mols):
    xs, eis, efs, gidx, ys = [], [], [], [], []
    offset = 0
    for g, (atoms, edges, btypes, y) in enumerate(mols):
        n = len(atoms)
        x = np.zeros((n, len(ELEMENTS)), dtype=np.float32)
        x[np.arange(n), atoms] = 1.0
        e = np.concatenate([edges, edges[:, ::-1]], axis=0).T + offset
        ef = np.zeros((len(btypes), len(BONDS)), dtype=np.float32)
        ef[np.arange(len(btypes)), btypes] = 1.0
        xs.append(x)
        eis.append(e)
        efs.append(np.concatenate([ef, ef], axis=0))
        gidx.append(np.full(n, g))
        ys.append(y)
        offset += n
    return (
        mx.array(np.concatenate(xs)),
        mx.array(np.concatenate(eis, axis=1).astype(np.int32)),
        mx.array(np.concatenate(efs)),
        mx.array(np.concatenate(gidx).astype(np.int32)),
        mx.array(np.array(ys, dtype=np.float32)),
    )


def scatter_add(values, index, num):
    out = mx.zeros((num, values.shape[-1]), dtype=values.dtype)
    return out.at[index].add(values)


class MessagePassing(nn.Module):
    def __init__(self, aggr: str = "add"):
        super().__init__()
        self.aggr = aggr

    def propagate(self, edge_index, node_features, message_kwargs=None):
        message_kwargs = message_kwargs or {}
        src, dst = edge_index[0], edge_index[1]
        src_features = node_features[0][src]
        dst_features = node_features[1][dst]
        messages = self.message(src_features, dst_features, **message_kwargs)
        return scatter_add(messages, dst, node_features[1].shape[0])

    def message(self, src_features, dst_features, **kwargs):
        edge_weights = kwargs.get("edge_weights", None)
        return src_features if edge_weights is None else edge_weights.reshape(-1, 1) * src_features


class GINConv(MessagePassing):
    def __init__(
        self,
        mlp: nn.Module,
        eps: float = 0.0,
        learn_eps: bool = False,
        node_features_dim: Optional[int] = None,
        edge_features_dim: Optional[int] = None,
        use_bias: Optional[bool] = True,
        **kwargs,
    ):
        kwargs.setdefault("aggr", "add")
        super(GINConv, self).__init__(**kwargs)
        self.mlp = mlp
        self.eps = mx.array([eps]) if learn_eps else eps
        if edge_features_dim is not None:
            self.edge_projection = nn.Linear(edge_features_dim, node_features_dim, bias=use_bias)

    def __call__(
        self,
        edge_index: mx.array,
        node_features: mx.array,
        edge_features: Optional[mx.array] = None,
        edge_weights: Optional[mx.array] = None,
    ) -> mx.array:
        if isinstance(node_features, mx.array):
            node_features = (node_features, node_features)

        if 'edge_projection' in self:
            edge_features = self.edge_projection(edge_features)

        dst_features = node_features[1]

        aggr_features = self.propagate(
            edge_index=edge_index,
            node_features=node_features,
            message_kwargs={"edge_weights": edge_weights,
                            "edge_features": edge_features},
        )
        if 'edge_projection' in self:
            aggr_features += edge_features
        node_features = self.mlp(aggr_features + (1 + self.eps) * dst_features)

        return node_features


class SolubilityGINE(nn.Module):
    def __init__(self, hidden=48, layers=3):
        super().__init__()
        self.embed = nn.Linear(len(ELEMENTS), hidden)
        self.convs = [
            GINConv(
                nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)),
                node_features_dim=hidden,
                edge_features_dim=len(BONDS),
            )
            for _ in range(layers)
        ]
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def __call__(self, x, edge_index, edge_attr, graph_index, num_graphs):
        h = self.embed(x)
        for conv in self.convs:
            h = nn.relu(conv(edge_index, h, edge_attr))
        pooled = scatter_add(h, graph_index, num_graphs)
        return self.head(pooled).squeeze(-1)


def main():
    rng = np.random.default_rng(SEED)
    mols = [make_molecule(rng) for _ in range(1500)]
    train, val = mols[:1200], mols[1200:]
    y_train = np.array([m[3] for m in train])
    mu, sd = y_train.mean(), y_train.std()
    val_batch = collate(val)
    y_val = np.array(val_batch[4])
    base_rmse = float(np.sqrt(np.mean((y_val - mu) ** 2)))
    print(f"train={len(train)} val={len(val)} logS mean={mu:.3f} sd={sd:.3f}")
    print(f"baseline (predict train mean) val RMSE = {base_rmse:.3f}")

    model = SolubilityGINE()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)

    def loss_fn(model, x, ei, ea, gi, y):
        pred = model(x, ei, ea, gi, y.shape[0])
        return mx.mean((pred - (y - mu) / sd) ** 2)

    step = nn.value_and_grad(model, loss_fn)
    batch_size = 32
    t0 = time.time()
    for epoch in range(1, 26):
        order = rng.permutation(len(train))
        tot, nb = 0.0, 0
        for i in range(0, len(order), batch_size):
            batch = collate([train[k] for k in order[i : i + batch_size]])
            loss, grads = step(model, *batch)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        pred = model(*val_batch[:4], len(val)) * sd + mu
        rmse = float(mx.sqrt(mx.mean((pred - val_batch[4]) ** 2)).item())
        print(f"epoch {epoch:2d}  train_mse(std) {tot / nb:.4f}  val_RMSE {rmse:.3f}  (baseline {base_rmse:.3f})  {time.time() - t0:.1f}s")
    print(f"final val RMSE {rmse:.3f} vs baseline {base_rmse:.3f}")


if __name__ == "__main__":
    main()
