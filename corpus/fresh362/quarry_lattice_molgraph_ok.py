"""Graph classification on synthetic ring / star molecules with a small GCN.

Graphs are stored as GraphData objects and batched into one disconnected
big graph (edge indices offset by the node counts of earlier graphs).
"""
import time
from typing import Optional, Union

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class GraphData:
    def __init__(
        self,
        edge_index: Optional[mx.array] = None,
        node_features: Optional[mx.array] = None,
        graph_labels: Optional[mx.array] = None,
        **kwargs,
    ):
        self.edge_index = edge_index
        self.node_features = node_features
        self.graph_labels = graph_labels
        for key, value in kwargs.items():
            setattr(self, key, value)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def __cat_dim__(self, key: str, *args, **kwargs) -> int:
        if "index" in key:
            return 1
        return 0

    def __inc__(self, key: str, *args, **kwargs) -> Union[int, None]:
        if "index" in key:
            return len(self.node_features) if self.node_features is not None else None
        return None


def collate(graph_list):
    batch_attr_dict = {}
    for attr in graph_list[0].to_dict():
        __inc__ = graph_list[0].__inc__(key=attr)
        __cat_dim__ = graph_list[0].__cat_dim__(key=attr)

        cumsum = None
        if __inc__:
            num_attr_list = [getattr(graph, "__inc__")(attr) for graph in graph_list]
            cumsum = mx.cumsum(mx.array([0] + num_attr_list))

        attr_list = []
        for i, graph in enumerate(graph_list):
            attr_array = getattr(graph, attr)
            if __inc__:
                attr_array = attr_array + cumsum[i]
            attr_list.append(attr_array)

        if attr == "edge_index":
            batch_indices = []
            for i in range(len(cumsum) - 1):
                batch_indices.extend([i] * (cumsum[i + 1] - cumsum[i]).item())
            batch_attr_dict["_batch_indices"] = mx.array(batch_indices)

        batch_attr_dict[attr] = mx.concatenate(attr_list, axis=__cat_dim__)
    return batch_attr_dict


def make_graph(rng, kind):
    n = int(rng.integers(6, 11))
    if kind == 0:  # ring
        src = np.arange(n)
        dst = (src + 1) % n
    else:  # star
        src = np.zeros(n - 1, dtype=np.int64)
        dst = np.arange(1, n)
    ei = np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])])
    feats = rng.normal(0.0, 0.3, size=(n, 4)).astype(np.float32)
    feats[:, 0] = 1.0
    return GraphData(
        edge_index=mx.array(ei.astype(np.int32)),
        node_features=mx.array(feats),
        graph_labels=mx.array([kind], dtype=mx.int32),
    )


class GCNLayer(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.lin = nn.Linear(d_in, d_out)

    def __call__(self, x, edge_index, num_nodes):
        src, dst = edge_index[0], edge_index[1]
        deg = mx.zeros((num_nodes,)).at[dst].add(1.0) + 1.0
        norm = mx.rsqrt(deg[src] * deg[dst])[:, None]
        h = self.lin(x)
        agg = mx.zeros_like(h).at[dst].add(h[src] * norm)
        return agg + h / deg[:, None]


class GraphClassifier(nn.Module):
    def __init__(self, d_in, d_hidden, n_classes):
        super().__init__()
        self.conv1 = GCNLayer(d_in, d_hidden)
        self.conv2 = GCNLayer(d_hidden, d_hidden)
        self.head = nn.Linear(d_hidden, n_classes)

    def __call__(self, x, edge_index, batch_idx, num_graphs):
        n = x.shape[0]
        h = nn.relu(self.conv1(x, edge_index, n))
        h = nn.relu(self.conv2(h, edge_index, n))
        sums = mx.zeros((num_graphs, h.shape[1])).at[batch_idx].add(h)
        counts = mx.zeros((num_graphs, 1)).at[batch_idx].add(1.0)
        return self.head(sums / counts)


def loss_fn(model, b, num_graphs):
    logits = model(b["node_features"], b["edge_index"], b["_batch_indices"], num_graphs)
    return nn.losses.cross_entropy(logits, b["graph_labels"], reduction="mean")


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    graphs = [make_graph(rng, int(rng.integers(0, 2))) for _ in range(256)]
    train, val = graphs[:208], graphs[208:]
    print(f"train graphs={len(train)} val graphs={len(val)}")

    model = GraphClassifier(4, 32, 2)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-2)
    step = nn.value_and_grad(model, loss_fn)
    bs = 16
    t0 = time.time()
    for epoch in range(1, 41):
        order = rng.permutation(len(train))
        tot = 0.0
        nb = 0
        for i in range(0, len(train), bs):
            chunk = [train[j] for j in order[i:i + bs]]
            b = collate(chunk)
            loss, grads = step(model, b, len(chunk))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        vb = collate(val)
        logits = model(vb["node_features"], vb["edge_index"], vb["_batch_indices"], len(val))
        acc = (mx.argmax(logits, axis=1) == vb["graph_labels"]).mean().item()
        if epoch % 4 == 0:
            print(f"epoch {epoch:2d} train_loss {tot / nb:.4f} val_acc {acc:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
