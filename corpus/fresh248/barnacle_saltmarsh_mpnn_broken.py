"""Edge-conditioned MPNN with a GRU update on small synthetic molecule graphs.

Binary permeability-style label per graph, sigmoid output, MSE loss (as in the
original BBBP script). Graph batching mimics mlx_graphs.loaders.Dataloader.
"""
import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NODE_DIM = 12
EDGE_DIM = 4

rng = np.random.default_rng(67)
mx.random.seed(67)


class GraphData:
    def __init__(self, x, edge_index, edge_attr, y):
        self.x = x
        self.edge_index = edge_index
        self.edge_attr = edge_attr
        self.y = y


class GraphDataBatch:
    def __init__(self, x, edge_index, edge_attr, y, batch_indices):
        self.x = x
        self.edge_index = edge_index
        self.edge_attr = edge_attr
        self.y = y
        self.batch_indices = batch_indices


def batch(graphs):
    xs, eis, eas, ys, bis = [], [], [], [], []
    offset = 0
    for gi, g in enumerate(graphs):
        n = g.x.shape[0]
        xs.append(g.x)
        eis.append(g.edge_index + offset)
        eas.append(g.edge_attr)
        ys.append(g.y)
        bis.append(np.full((n,), gi, dtype=np.int32))
        offset += n
    return GraphDataBatch(
        mx.array(np.concatenate(xs, 0)),
        mx.array(np.concatenate(eis, 1)),
        mx.array(np.concatenate(eas, 0)),
        mx.array(np.array(ys, dtype=np.float32)),
        mx.array(np.concatenate(bis, 0)),
    )


class Dataloader:
    def __init__(self, dataset, batch_size=1, shuffle=False):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._indices = list(range(len(dataset)))
        self._current_index = 0

    def _shuffle_indices(self):
        np.random.shuffle(self._indices)

    def __iter__(self):
        return self

    def __next__(self):
        if self._current_index >= len(self.dataset):
            self._current_index = 0
            if self.shuffle:
                self._shuffle_indices()
            raise StopIteration
        idx = self._indices[self._current_index : self._current_index + self.batch_size]
        out = batch([self.dataset[i] for i in idx])
        self._current_index += self.batch_size
        return out


def make_graph():
    n = int(rng.integers(6, 15))
    atom = rng.choice(NODE_DIM, size=n, p=[0.3, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.03, 0.03, 0.02, 0.02])
    x = np.eye(NODE_DIM, dtype=np.float32)[atom]
    src, dst, bond = [], [], []
    for i in range(1, n):
        j = int(rng.integers(0, i))
        b = int(rng.integers(0, EDGE_DIM))
        src += [i, j]
        dst += [j, i]
        bond += [b, b]
    edge_index = np.array([src, dst], dtype=np.int32)
    edge_attr = np.eye(EDGE_DIM, dtype=np.float32)[bond]
    polar = np.isin(atom, [2, 3, 4]).mean() + 0.5 * (np.array(bond) == 2).mean()
    y = float(polar < 0.3)
    return GraphData(x, edge_index, edge_attr, y)


def global_mean_pool(h, batch_indices, num_graphs):
    sums = mx.zeros((num_graphs, h.shape[-1])).at[batch_indices].add(h)
    counts = mx.zeros((num_graphs,)).at[batch_indices].add(mx.ones(h.shape[0]))
    return sums / counts[:, None]


class EdgeNetwork(nn.Module):
    def __init__(self, edge_dim, message_dim):
        super().__init__()
        self.fc = nn.Linear(edge_dim, message_dim * message_dim)
        self.message_dim = message_dim

    def __call__(self, x, edge_index, edge_attr):
        weight = self.fc(edge_attr).reshape(-1, self.message_dim, self.message_dim)
        src, dst = edge_index[0], edge_index[1]
        msg = mx.squeeze(mx.matmul(weight, mx.expand_dims(x[src], -1)), -1)
        return mx.zeros_like(x).at[dst].add(msg)


class MPNNMLX(nn.Module):
    def __init__(self, nodedim=NODE_DIM, edgedim=EDGE_DIM, messagedim=16, numsteps=3, hiddendim=64):
        super().__init__()
        self.numsteps = numsteps
        self.nodelin = nn.Linear(nodedim, messagedim)
        self.edgenet = EdgeNetwork(edgedim, messagedim)
        self.W_ir = nn.Linear(messagedim, messagedim)
        self.W_hr = nn.Linear(messagedim, messagedim)
        self.W_iz = nn.Linear(messagedim, messagedim)
        self.W_hz = nn.Linear(messagedim, messagedim)
        self.W_in = nn.Linear(messagedim, messagedim)
        self.W_hn = nn.Linear(messagedim, messagedim)
        self.readout = nn.Sequential(nn.Linear(messagedim, hiddendim), nn.ReLU(), nn.Linear(hiddendim, 1))

    def gru_cell(self, x, h):
        r = mx.sigmoid(self.W_ir(x) + self.W_hr(h))
        z = mx.sigmoid(self.W_iz(x) + self.W_hz(h))
        n = mx.tanh(self.W_in(x) + r * self.W_hn(h))
        return (1 - z) * n + z * h

    def __call__(self, data):
        h = self.nodelin(data.x)
        for _ in range(self.numsteps):
            m = self.edgenet(h, data.edge_index, data.edge_attr)
            h = self.gru_cell(m, h)
        hg = global_mean_pool(h, data.batch_indices, data.y.shape[0])
        return mx.sigmoid(mx.squeeze(self.readout(hg), -1))


graphs = [make_graph() for _ in range(600)]
print("Processed", len(graphs), "graphs.")
perm = rng.permutation(len(graphs))
train_graphs = [graphs[i] for i in perm[:480]]
val_graphs = [graphs[i] for i in perm[480:540]]
test_graphs = [graphs[i] for i in perm[540:]]
print("--------------------------------")
print("Train dataset size:", len(train_graphs))
print("Validation dataset size:", len(val_graphs))
print("Test dataset size:", len(test_graphs))
print("Positive fraction:", round(float(np.mean([g.y for g in graphs])), 3))
print("--------------------------------")

train_loader = Dataloader(train_graphs, batch_size=32, shuffle=True)
val_loader = Dataloader(val_graphs, batch_size=32, shuffle=False)

model = MPNNMLX()
optimizer = optim.Adam(learning_rate=3e-3)


def compute_loss(batch):
    preds = model(batch)
    return nn.losses.mse_loss(preds, batch.y)


def metric_fn(pred, target):
    return mx.mean(mx.abs(pred - target))


loss_and_grad = nn.value_and_grad(model, compute_loss)

num_epochs = 15
for epoch in range(1, num_epochs + 1):
    model.train()
    train_loss = 0.0
    for batch_ in train_loader:
        loss, grads = loss_and_grad(batch_)
        train_loss += loss.item()
        model.update(optimizer.apply_gradients(grads, model.parameters()))
        mx.eval(model.parameters())
    avg_train_loss = train_loss / len(train_loader)

    model.eval()
    val_loss = 0.0
    val_metric = 0.0
    for batch_ in val_loader:
        preds = model(batch_)
        val_loss += nn.losses.mse_loss(preds, batch_.y).item()
        val_metric += metric_fn(preds, batch_.y).item()
    avg_val_loss = val_loss / len(val_graphs)
    avg_val_metric = val_metric / len(val_graphs)

    print(
        f"Epoch {epoch:02d}  "
        f"Train Loss: {avg_train_loss:.4f}  "
        f"Val Loss:   {avg_val_loss:.4f}  "
        f"Val MAE:    {avg_val_metric:.4f}"
    )

test_batch = batch(test_graphs)
test_preds = model(test_batch)
acc = mx.mean((test_preds > 0.5) == (test_batch.y > 0.5)).item()
print(f"Test MSE: {nn.losses.mse_loss(test_preds, test_batch.y).item():.4f}  Test accuracy: {acc:.3f}")
