"""Customer segment prediction on a shop purchase graph with GraphSAGE
and mini-batch neighbor sampling (sampler from mlx-graphs)."""
import time
from typing import List, Tuple

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class GraphData:
    def __init__(self, edge_index=None, node_features=None, **kwargs):
        self.edge_index = edge_index
        self.node_features = node_features
        for k, v in kwargs.items():
            setattr(self, k, v)


def sample_nodes(
    edge_index: np.ndarray,
    num_neighbors: List[int],
    input_node: int = None,
) -> Tuple[np.array, np.array, np.array, np.array]:
    sampled_edges = []
    sampled_edges_indices = []
    n_id = set([input_node])
    e_id = []
    visited_nodes = set([input_node])
    current_layer_nodes = [input_node]

    structured_edge_index = np.rec.fromarrays(
        edge_index, names="source, target", formats="i8, i8"
    )

    for num in num_neighbors:
        next_layer_nodes = set()

        for node in current_layer_nodes:
            mask = (structured_edge_index.source == node) & (
                ~np.isin(structured_edge_index.target, list(visited_nodes))
            )
            possible_edges_masked_indices = np.where(mask)[0]
            possible_edges = structured_edge_index[mask]

            num_edges_to_select = min(len(possible_edges), num)
            if num_edges_to_select > 0:
                selected_indices = np.random.choice(
                    len(possible_edges), size=num_edges_to_select, replace=False
                )
                selected_edges = possible_edges[selected_indices]

                original_indices = possible_edges_masked_indices[selected_indices]

                next_layer_nodes.update(selected_edges["target"])
                sampled_edges.extend(selected_edges.tolist())
                sampled_edges_indices.extend(original_indices.tolist())

                visited_nodes.update(selected_edges["target"])

        current_layer_nodes = np.array(list(next_layer_nodes - n_id), dtype=int)
        n_id.update(next_layer_nodes)

    sampled_edges_array = np.array(sampled_edges, dtype=int).T
    e_id = sampled_edges_indices

    n_id_list = list(n_id)

    return sampled_edges_array, n_id_list, e_id, input_node


def sampler(
    graph: GraphData, input_nodes: List[int], num_neighbors: List[int], batch_size: int
) -> List[GraphData]:
    if not isinstance(graph, GraphData):
        raise ValueError("graph must be a GraphData object")
    if not isinstance(num_neighbors, list):
        num_neighbors = list(num_neighbors)
    if not isinstance(input_nodes, list):
        input_nodes = list(input_nodes)

    batched_graphs = []

    for i in range(0, len(input_nodes), batch_size):
        batch_nodes = input_nodes[i : i + batch_size]

        batch_sampled_edges = np.empty([2, 0])
        batch_n_id = np.empty([1, 0], dtype=int)
        batch_e_id = []
        batch_input_node = []

        for seed_node in batch_nodes:
            sampled_edges, n_id, e_id, input_node = sample_nodes(
                edge_index=np.array(graph.edge_index),
                num_neighbors=num_neighbors,
                input_node=seed_node,
            )

            batch_sampled_edges = np.append(batch_sampled_edges, sampled_edges, axis=1)
            batch_n_id = np.append(batch_n_id, n_id)
            batch_e_id.extend(e_id)
            batch_input_node.append(input_node)

        subgraph_node_features = graph.node_features[mx.array(batch_n_id)]
        subgraph = GraphData(
            edge_index=mx.array(batch_sampled_edges),
            node_features=subgraph_node_features,
            n_id=mx.array(batch_n_id),
            e_id=mx.array(e_id),
            input_nodes=mx.array(input_node),
        )

        batched_graphs.append(subgraph)

    return batched_graphs


# ---------------- synthetic shop graph ----------------
np.random.seed(11)
rng = np.random.default_rng(11)
N_CUST, N_PROD, N_SEG, DIM = 240, 60, 4, 16
N = N_CUST + N_PROD
cust_seg = rng.integers(0, N_SEG, N_CUST)
prod_cat = np.arange(N_PROD) % N_SEG
labels_np = np.concatenate([cust_seg, prod_cat])

src, dst = [], []
for c in range(N_CUST):
    n_buy = 0 if rng.random() < 0.1 else int(rng.integers(2, 7))
    for _ in range(n_buy):
        cat = cust_seg[c] if rng.random() < 0.85 else rng.integers(0, N_SEG)
        p = int(rng.choice(np.where(prod_cat == cat)[0]))
        src += [c, N_CUST + p]
        dst += [N_CUST + p, c]
edges = np.unique(np.array([src, dst]), axis=1)

centroids = rng.normal(size=(N_SEG, DIM))
feats = 0.35 * centroids[labels_np] + rng.normal(size=(N, DIM))
feats[N_CUST:] += 0.9 * centroids[prod_cat]
graph = GraphData(edge_index=mx.array(edges), node_features=mx.array(feats.astype(np.float32)))
labels = mx.array(labels_np)

perm = rng.permutation(N_CUST)
train_nodes, val_nodes = perm[:180].tolist(), perm[180:]
cold = int((np.bincount(edges[0], minlength=N)[:N_CUST] == 0).sum())
print(f"nodes={N} edges={edges.shape[1]} customers={N_CUST} cold_customers={cold}")


class SAGE(nn.Module):
    def __init__(self, din, dh, dout):
        super().__init__()
        self.self1 = nn.Linear(din, dh)
        self.nb1 = nn.Linear(din, dh, bias=False)
        self.self2 = nn.Linear(dh, dout)
        self.nb2 = nn.Linear(dh, dout, bias=False)

    @staticmethod
    def aggregate(h, edge_index, n):
        s, d = edge_index[0], edge_index[1]
        total = mx.zeros((n, h.shape[1])).at[s].add(h[d])
        deg = mx.zeros((n,)).at[s].add(mx.ones(s.shape))
        return total / mx.maximum(deg, 1.0)[:, None]

    def __call__(self, x, edge_index):
        n = x.shape[0]
        h = nn.relu(self.self1(x) + self.nb1(self.aggregate(x, edge_index, n)))
        return self.self2(h) + self.nb2(self.aggregate(h, edge_index, n))


model = SAGE(DIM, 32, N_SEG)
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-2)


def loss_fn(m, x, edge_index, seeds, y):
    logits = m(x, edge_index)[seeds]
    return nn.losses.cross_entropy(logits, y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
val_idx = mx.array(val_nodes)
majority = np.bincount(cust_seg[val_nodes]).max() / len(val_nodes)
BATCH = 30
t0 = time.time()
for epoch in range(1, 16):
    order = np.random.permutation(train_nodes).tolist()
    batches = sampler(graph, order, num_neighbors=[5, 3], batch_size=BATCH)
    tot = 0.0
    for b, sub in enumerate(batches):
        seeds = mx.array(order[b * BATCH : (b + 1) * BATCH])
        y = labels[seeds]
        loss, grads = loss_and_grad(model, graph.node_features, sub.edge_index, seeds, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * seeds.shape[0]
    logits = model(graph.node_features, graph.edge_index)
    tr_acc = (mx.argmax(logits[mx.array(train_nodes)], axis=1) == labels[mx.array(train_nodes)]).mean().item()
    va_acc = (mx.argmax(logits[val_idx], axis=1) == labels[val_idx]).mean().item()
    print(f"epoch {epoch:2d} loss {tot / len(train_nodes):.4f} train_acc {tr_acc:.3f} "
          f"val_acc {va_acc:.3f} (majority {majority:.3f}) batches {len(batches)}")
print(f"done in {time.time() - t0:.1f}s")
