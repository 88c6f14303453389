# Toy message-passing network: predict a molecule-like "solubility" score
# from small random graphs (dense padded adjacency, up to 9 atoms).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(67)
mx.random.seed(67)
MAX_ATOMS, N_KINDS = 9, 5
ATOM_W = np.array([0.8, -0.4, 1.1, -0.9, 0.3])   # per-kind contribution


def make_graph():
    n = rng.integers(4, MAX_ATOMS + 1)
    kinds = rng.integers(0, N_KINDS, size=n)
    adj = np.zeros((MAX_ATOMS, MAX_ATOMS), np.float32)
    for i in range(1, n):                       # random tree + a few extra bonds
        j = rng.integers(0, i)
        adj[i, j] = adj[j, i] = 1
    for _ in range(rng.integers(0, 3)):
        a, b = rng.integers(0, n, size=2)
        if a != b:
            adj[a, b] = adj[b, a] = 1
    x = np.zeros((MAX_ATOMS, N_KINDS), np.float32)
    x[np.arange(n), kinds] = 1
    mask = np.zeros((MAX_ATOMS,), np.float32)
    mask[:n] = 1
    deg = adj.sum(1)
    # label: atom contributions + neighbour interactions + noise
    y = ATOM_W[kinds].sum() + 0.15 * (deg[:n] ** 2).sum() / n \
        - 0.2 * (adj[:n, :n] * np.outer(ATOM_W[kinds], ATOM_W[kinds])).sum()
    y += rng.normal(0, 0.1)
    return x, adj, mask, np.float32(y)


graphs = [make_graph() for _ in range(1600)]
print("Processed", len(graphs), "graphs.")
X = np.stack([g[0] for g in graphs]); A = np.stack([g[1] for g in graphs])
M = np.stack([g[2] for g in graphs]); Y = np.array([g[3] for g in graphs], np.float32)
Y = (Y - Y.mean()) / Y.std()
idx = rng.permutation(len(graphs))
tr, va = idx[:1280], idx[1280:]
print("Train dataset size:", len(tr))
print("Validation dataset size:", len(va))


class MPNN(nn.Module):
    def __init__(self, hidden=48, steps=3):
        super().__init__()
        self.embed = nn.Linear(N_KINDS, hidden)
        self.msg = [nn.Linear(hidden, hidden) for _ in range(steps)]
        self.upd = [nn.Linear(2 * hidden, hidden) for _ in range(steps)]
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def __call__(self, x, adj, mask):
        h = nn.relu(self.embed(x)) * mask[..., None]
        for m, u in zip(self.msg, self.upd):
            agg = adj @ m(h)
            h = nn.relu(u(mx.concatenate([h, agg], axis=-1))) * mask[..., None]
        return self.head(h.sum(axis=1)).squeeze(-1)


model = MPNN()
optimizer = optim.Adam(learning_rate=2e-3)


def compute_loss(x, adj, mask, y):
    return nn.losses.mse_loss(model(x, adj, mask), y)


def metric_fn(pred, target):
    return mx.mean(mx.abs(pred - target))


loss_and_grad = nn.value_and_grad(model, compute_loss)


def batches(ids, bs, shuffle):
    ids = rng.permutation(ids) if shuffle else ids
    for s in range(0, len(ids), bs):
        b = ids[s:s + bs]
        yield mx.array(X[b]), mx.array(A[b]), mx.array(M[b]), mx.array(Y[b])


t0 = time.time()
num_epochs = 10
for epoch in range(1, num_epochs + 1):
    model.train()
    train_loss, nb = 0.0, 0
    for x, adj, mask, y in batches(tr, 32, True):
        loss, grads = loss_and_grad(x, adj, mask, y)
        train_loss += loss.item(); nb += 1
        # Apply gradients to update parameters
        optimizer.apply_gradients(grads, model.parameters())
        mx.eval(model.parameters())
    avg_train_loss = train_loss / nb

    model.eval()
    val_loss, val_metric, vb = 0.0, 0.0, 0
    for x, adj, mask, y in batches(va, 64, False):
        preds = model(x, adj, mask)
        val_loss += nn.losses.mse_loss(preds, y).item()
        val_metric += metric_fn(preds, y).item(); vb += 1
    print(f"Epoch {epoch:02d}  Train Loss: {avg_train_loss:.4f}  "
          f"Val Loss: {val_loss / vb:.4f}  Val MAE: {val_metric / vb:.4f}")
print(f"done in {time.time() - t0:.1f}s")
