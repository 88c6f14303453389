"""Estuary relay network: NBFNet-style link prediction on a small channel graph.

Nodes are relay buoys, relations are four kinds of channel links. Given a
(source buoy, link kind) query, the model scores every buoy as the target.
"""
import time
from typing import Optional, Tuple

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

NUM_NODES = 40
NUM_REL = 4
DIM = 32
LAYERS = 3
STEPS = 150
BATCH = 32


def scatter(values, index, out_size, aggr="add"):
    shape = (out_size,) + values.shape[1:]
    empty = mx.zeros(shape, dtype=values.dtype)
    if aggr == "add":
        return empty.at[index].add(values)
    if aggr == "mean":
        total = empty.at[index].add(values)
        count = mx.zeros((out_size,)).at[index].add(mx.ones(index.shape))
        count = count.reshape((-1,) + (1,) * (values.ndim - 1))
        return total / mx.maximum(count, 1)
    raise ValueError(aggr)


class MessagePassing(nn.Module):
    def __init__(self, aggr="add"):
        super().__init__()
        self.aggr = aggr

    def propagate(self, edge_index, node_features, message_kwargs={},
                  aggregate_kwargs={}, update_kwargs={}):
        src_idx, dst_idx = edge_index
        src_features = node_features[src_idx]
        dst_features = node_features[dst_idx]
        messages = self.message(src_features, dst_features, **message_kwargs)
        aggregated = self.aggregate(messages, dst_idx, **aggregate_kwargs)
        return self.update_nodes(aggregated, **update_kwargs)


class GeneralizedRelationalConv(MessagePassing):
    eps = 1e-6

    def __init__(self, input_dim, output_dim, num_relation,
                 message_func="distmult", aggregate_func="add",
                 layer_norm=True, activation="relu", node_dim=0):
        super().__init__(aggr="add")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.num_relation = num_relation
        self.message_func = message_func
        self.aggregate_func = aggregate_func
        self.node_dim = node_dim
        self.layer_norm = nn.LayerNorm(output_dim) if layer_norm else None
        self.activation = getattr(nn, activation)
        self.linear = nn.Linear(input_dim * 2, output_dim)
        self.relation = nn.Embedding(num_relation, input_dim)

    def __call__(self, node_features, edge_index, edge_type, boundary,
                 size: Optional[Tuple[int, int]] = None, edge_weight=None):
        self.input_dims = len(node_features.shape)
        batch_size = node_features.shape[0] if self.input_dims == 3 else 1
        if size is None:
            n = node_features.shape[1] if self.input_dims == 3 else node_features.shape[0]
            size = (n, n)
        relation = mx.repeat(self.relation.weight[None, :], batch_size, axis=0)
        if edge_weight is None:
            edge_weight = mx.ones(len(edge_type))
        if self.input_dims == 3:
            node_features = node_features.transpose(1, 0, 2)
            boundary = boundary.transpose(1, 0, 2)
        output = self.propagate(
            node_features=node_features,
            edge_index=edge_index,
            message_kwargs=dict(relation=relation, boundary=boundary, edge_type=edge_type),
            aggregate_kwargs=dict(edge_weight=edge_weight, dim_size=size),
            update_kwargs=dict(old=node_features),
        )
        return output

    def message(self, src_features, dst_features, relation, boundary, edge_type):
        relation_j = relation[:, edge_type]
        if self.input_dims == 3:
            relation_j = relation_j.transpose(1, 0, 2)
        else:
            relation_j = relation_j.squeeze(0)
        if self.message_func == "transe":
            message = src_features + relation_j
        else:
            message = src_features * relation_j
        return mx.concatenate([message, boundary], axis=0)

    def aggregate(self, messages, indices, edge_weight, dim_size):
        index = mx.concatenate([indices, mx.arange(dim_size[0])])
        edge_weight = mx.concatenate([edge_weight, mx.ones(dim_size[0])])
        shape = [1] * messages.ndim
        shape[self.node_dim] = -1
        edge_weight = edge_weight.reshape(shape)
        return scatter(messages * edge_weight, index, dim_size[0], self.aggregate_func)

    def update_nodes(self, aggregated, old):
        output = self.linear(mx.concatenate([old, aggregated], axis=-1))
        if self.layer_norm is not None:
            output = self.layer_norm(output)
        if self.activation:
            output = self.activation(output)
        return output.transpose(1, 0, 2) if self.input_dims == 3 else output


class RelayNBFNet(nn.Module):
    def __init__(self, dim, num_relation, layers):
        super().__init__()
        self.query = nn.Embedding(num_relation, dim)
        self.layers = [GeneralizedRelationalConv(dim, dim, num_relation) for _ in range(layers)]
        self.head = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, 1))

    def __call__(self, heads, rels, edge_index, edge_type):
        bs = heads.shape[0]
        q = self.query(rels)                                   # (bs, dim)
        onehot = (mx.arange(NUM_NODES)[None, :] == heads[:, None]).astype(mx.float32)
        boundary = onehot[..., None] * q[:, None, :]            # (bs, N, dim)
        h = boundary
        for conv in self.layers:
            h = conv(h, edge_index, edge_type, boundary) + h
        feats = mx.concatenate([h, mx.broadcast_to(q[:, None, :], h.shape)], axis=-1)
        return self.head(feats).squeeze(-1)                    # (bs, N)


def build_graph():
    mults = [1, 3, 7, 11]
    shifts = [1, 5, 2, 9]
    src, dst, typ = [], [], []
    for r in range(NUM_REL):
        for i in range(NUM_NODES):
            src.append(i)
            dst.append((mults[r] * i + shifts[r]) % NUM_NODES)
            typ.append(r)
    return mx.array([src, dst]), mx.array(typ)


def main():
    edge_index, edge_type = build_graph()
    triples_h = edge_index[0]
    triples_t = edge_index[1]
    n_tr = triples_h.shape[0]
    model = RelayNBFNet(DIM, NUM_REL, LAYERS)
    opt = optim.Adam(learning_rate=5e-4)

    def loss_fn(m, h, r, t):
        logits = m(h, r, edge_index, edge_type)
        return nn.losses.cross_entropy(logits, t, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for step in range(1, STEPS + 1):
        idx = mx.random.randint(0, n_tr, (BATCH,))
        h, r, t = triples_h[idx], edge_type[idx], triples_t[idx]
        loss, grads = step_fn(model, h, r, t)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 15 == 0 or step == 1:
            print(f"step {step:4d}  loss {loss.item():.4f}  ({time.time() - t0:.1f}s)")

    logits = model(triples_h, edge_type, edge_index, edge_type)
    rank = (logits > mx.take_along_axis(logits, triples_t[:, None], axis=1)).sum(axis=1) + 1
    mrr = (1.0 / rank.astype(mx.float32)).mean().item()
    hits1 = (rank == 1).astype(mx.float32).mean().item()
    print(f"train-graph MRR {mrr:.3f}  hits@1 {hits1:.3f}  (random MRR ~{sum(1/k for k in range(1, NUM_NODES+1))/NUM_NODES:.3f})")


if __name__ == "__main__":
    main()
