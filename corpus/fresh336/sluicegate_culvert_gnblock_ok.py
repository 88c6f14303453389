"""Culvert network surrogate: a Graph Network block (edge -> node -> global)
predicts the peak sluice-gate discharge of small synthetic culvert layouts."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class Mlp(nn.Module):
    def __init__(self, in_dims, out_dims, hidden=32):
        super().__init__()
        self.l1 = nn.Linear(in_dims, hidden)
        self.l2 = nn.Linear(hidden, out_dims)

    def __call__(self, x):
        return self.l2(nn.silu(self.l1(x)))


class EdgeModel(nn.Module):
    def __init__(self, edge_features_dim, node_features_dim, graph_features_dim, output_dim):
        super().__init__()
        self.model = Mlp(2 * node_features_dim + edge_features_dim + graph_features_dim, output_dim)

    def __call__(self, edge_index, node_features, edge_features, graph_features):
        source_nodes = edge_index[0]
        destination_nodes = edge_index[1]
        model_input = mx.concatenate(
            [
                node_features[destination_nodes],
                node_features[source_nodes],
                edge_features,
                mx.ones([edge_features.shape[0], graph_features.shape[0]]) * graph_features,
            ],
            1,
        )
        return self.model(model_input)


class NodeModel(nn.Module):
    def __init__(self, node_features_dim, edge_features_dim, graph_features_dim, output_dim):
        super().__init__()
        self.model = Mlp(node_features_dim + edge_features_dim + graph_features_dim, output_dim)

    def __call__(self, edge_index, node_features, edge_features, graph_features):
        n = node_features.shape[0]
        destination_nodes = edge_index[1]
        summed = mx.zeros([n, edge_features.shape[1]]).at[destination_nodes].add(edge_features)
        count = mx.zeros([n, 1]).at[destination_nodes].add(mx.ones([edge_features.shape[0], 1]))
        aggregated_edges = summed / mx.maximum(count, 1.0)
        model_input = mx.concatenate(
            [
                node_features,
                aggregated_edges,
                mx.ones([n, graph_features.shape[0]]) * graph_features,
            ],
            1,
        )
        return self.model(model_input)


class GlobalModel(nn.Module):
    def __init__(self, edge_features_dim, node_features_dim, graph_features_dim, output_dim):
        super().__init__()
        self.model = Mlp(node_features_dim + edge_features_dim + graph_features_dim, output_dim)

    def __call__(self, edge_index, node_features, edge_features, graph_features):
        aggregated_edges = edge_features.mean(axis=0)
        aggregated_nodes = node_features.mean(axis=0)
        model_input = mx.concatenate([aggregated_nodes, aggregated_edges, graph_features], 0)
        return self.model(model_input)


class CulvertGN(nn.Module):
    def __init__(self, F_N, F_E, F_U, hidden_e=8, hidden_n=8, hidden_u=8):
        super().__init__()
        self.edge_model = EdgeModel(F_E, F_N, F_U, hidden_e)
        self.node_model = NodeModel(F_N, hidden_e, F_U, hidden_n)
        self.graph_model = GlobalModel(hidden_e, hidden_n, F_U, hidden_u)
        self.readout = nn.Linear(hidden_u, 1)

    def __call__(self, edge_index, node_features, edge_features, graph_features):
        e = self.edge_model(edge_index, node_features, edge_features, graph_features)
        v = self.node_model(edge_index, node_features, e, graph_features)
        u = self.graph_model(edge_index, v, e, graph_features)
        return self.readout(u)[0]


N_MIN, N_MAX = 4, 8
F_N = 2  # number of node features (invert level, inflow)
F_E = 1  # number of edge features (culvert age index)
F_U = 2  # number of global features (rainfall, tide)


def make_layout(rng):
    N = int(rng.integers(N_MIN, N_MAX + 1))
    src, dst = [], []
    for j in range(1, N):  # a chain/tree towards node 0 plus a few cross links
        src.append(j)
        dst.append(int(rng.integers(0, j)))
    for _ in range(int(rng.integers(1, 3))):
        a, b = rng.choice(N, 2, replace=False)
        src.append(int(a))
        dst.append(int(b))
    edge_index = mx.array([src, dst])
    node_features = mx.random.normal([N, F_N])
    edge_features = mx.random.normal([edge_index.shape[1], F_E])
    graph_features = mx.random.normal([F_U])
    # discharge law: saturating head drop across culverts + storm forcing
    head = node_features[:, 0]
    drop = mx.tanh(1.5 * (head[edge_index[0]] - head[edge_index[1]]))
    y = drop.mean() + 0.5 * node_features[:, 1].mean() + 0.4 * graph_features[0]
    y = y + 0.05 * mx.random.normal([])
    return edge_index, node_features, edge_features, graph_features, y


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    train = [make_layout(rng) for _ in range(320)]
    valid = [make_layout(rng) for _ in range(80)]
    mx.eval([g for sample in train + valid for g in sample])
    y_train = np.array([s[4].item() for s in train])
    y_valid = np.array([s[4].item() for s in valid])
    base_rmse = float(np.sqrt(np.mean((y_valid - y_train.mean()) ** 2)))
    print(f"layouts train={len(train)} valid={len(valid)}  predict-mean valid rmse={base_rmse:.4f}")

    model = CulvertGN(F_N, F_E, F_U)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def batch_loss(model, batch):
        errs = []
        for edge_index, x, e, u, y in batch:
            errs.append((model(edge_index, x, e, u) - y) ** 2)
        return mx.stack(errs).mean()

    def valid_rmse():
        errs = [(model(ei, x, e, u) - y) ** 2 for ei, x, e, u, y in valid]
        return mx.sqrt(mx.stack(errs).mean()).item()

    loss_and_grad = nn.value_and_grad(model, batch_loss)
    bs = 16
    t0 = time.time()
    for epoch in range(1, 13):
        order = rng.permutation(len(train))
        losses = []
        for i in range(0, len(train), bs):
            batch = [train[j] for j in order[i : i + bs]]
            loss, grads = loss_and_grad(model, batch)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        print(
            f"epoch {epoch:2d}  train_mse {np.mean(losses):.4f}  "
            f"valid_rmse {valid_rmse():.4f}  ({time.time() - t0:.1f}s)"
        )
    print(f"final valid rmse {valid_rmse():.4f} vs predict-mean {base_rmse:.4f}")


if __name__ == "__main__":
    main()
