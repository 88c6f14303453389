import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

# Seed bank: germination outcome (dormant / slow / vigorous) of seed lots,
# first for cereal trays (task A), then legume trays (task B), in ONE network.
# PackNet: after A, half of each hidden weight matrix is released by magnitude,
# A's kept weights are frozen by a gradient mask and B trains only the released ones.
rng = np.random.default_rng(7)
mx.random.seed(7)
D, H, C = 8, 64, 3

def make_task(n, shift, mix):
    x = rng.normal(size=(n, D)).astype(np.float32)
    s = np.tanh(x @ mix[:, 0]) + 0.6 * x[:, 2] * x[:, 5] + shift * np.sin(x @ mix[:, 1])
    s = s + 0.25 * rng.normal(size=n)
    y = np.digitize(s, np.quantile(s, [1 / 3, 2 / 3])).astype(np.int32)
    return mx.array(x), mx.array(y)

mixA = rng.normal(size=(D, 2)) / np.sqrt(D)
mixB = rng.normal(size=(D, 2)) / np.sqrt(D)
tasks = {"A": make_task(4000, 0.5, mixA), "B": make_task(4000, 1.5, mixB)}
valid = {"A": make_task(1000, 0.5, mixA), "B": make_task(1000, 1.5, mixB)}

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, H)
        self.l2 = nn.Linear(H, H)
        self.heads = {"A": nn.Linear(H, C), "B": nn.Linear(H, C)}
        self._owner = None  # per hidden weight: 0 free, 1 task A, 2 task B
        self._view = None

    def __call__(self, x, task):
        w1, w2 = self.l1.weight, self.l2.weight
        if self._view is not None:
            w1, w2 = w1 * self._view[0], w2 * self._view[1]
        h = nn.relu(x @ w1.T + self.l1.bias)
        h = nn.relu(h @ w2.T + self.l2.bias)
        return self.heads[task](h)

model = Net()
mx.eval(model.parameters())

def loss_fn(model, x, y, task):
    return nn.losses.cross_entropy(model(x, task), y, reduction="mean")

def accuracy(task, view):
    model._view = view
    x, y = valid[task]
    acc = (mx.argmax(model(x, task), axis=1) == y).mean().item()
    model._view = None
    return 100 * acc

def train(task, epochs, lr, grad_mask, tag):
    opt = optim.Adam(learning_rate=lr)
    vg = nn.value_and_grad(model, loss_fn)
    x, y = tasks[task]
    n = x.shape[0]
    step = 0
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for i in range(0, n, 100):
            idx = perm[i:i + 100]
            loss, g = vg(model, x[idx], y[idx], task)
            if grad_mask is not None:
                g["l1"]["weight"] = g["l1"]["weight"] * grad_mask[0]
                g["l2"]["weight"] = g["l2"]["weight"] * grad_mask[1]
                g["l1"]["bias"] = mx.zeros_like(g["l1"]["bias"])
                g["l2"]["bias"] = mx.zeros_like(g["l2"]["bias"])
                g["heads"]["A"] = tree_map(mx.zeros_like, g["heads"]["A"])
            else:
                g["heads"]["B"] = tree_map(mx.zeros_like, g["heads"]["B"])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            step += 1
        print(f"  [{tag}] epoch {ep:2d}  train_ce {tot / (n // 100):.4f}  "
              f"valid_acc_{task} {accuracy(task, None):5.1f}%")

t0 = time.time()
print(f"seed bank: {D} lot features, {C} germination classes, chance 33.3%")
print("stage 1: cereal trays (task A), all weights free")
train("A", 8, 3e-3, None, "A")

# release half of each hidden matrix (smallest magnitude) for task B
keep = []
for w in (model.l1.weight, model.l2.weight):
    thr = np.quantile(np.abs(np.array(w)), 0.5)
    keep.append(mx.array((np.abs(np.array(w)) > thr).astype(np.float32)))
model.l1.weight = model.l1.weight * keep[0]
model.l2.weight = model.l2.weight * keep[1]
mx.eval(model.parameters())
print(f"stage 2: released {100 * (1 - np.mean([k.mean().item() for k in keep])):.1f}% "
      f"of hidden weights; valid_acc_A right after release {accuracy('A', None):5.1f}%")
print("stage 3: retrain kept A weights (released weights held at 0)")
train("A", 2, 1e-3, keep, "A*")
snapA = [np.array(model.l1.weight * keep[0]), np.array(model.l2.weight * keep[1])]
accA_before = accuracy("A", keep)

free = [1.0 - k for k in keep]
print("stage 4: legume trays (task B), only released weights move")
train("B", 8, 3e-3, free, "B")

drift = max(np.abs(np.array(model.l1.weight * keep[0]) - snapA[0]).max(),
            np.abs(np.array(model.l2.weight * keep[1]) - snapA[1]).max())
accA_after = accuracy("A", keep)
print(f"task A through its own mask: {accA_before:5.1f}% before B, {accA_after:5.1f}% after B")
print(f"task B through the full net: {accuracy('B', None):5.1f}%")
print(f"max change of task-A weights during B: {drift:.1e}")
print(f"done in {time.time() - t0:.1f}s")
