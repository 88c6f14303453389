"""Mixup training (alpha=1.0): the loss on mixed soft targets stays high by design while clean accuracy climbs."""
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
D, C = 20, 5
W = rng.normal(0, 1, (D, C)).astype(np.float32)


def data(n):
    x = rng.normal(0, 1, (n, D)).astype(np.float32)
    y = np.argmax(x @ W + 0.3 * rng.normal(0, 1, (n, C)), axis=1)
    return x, y


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D, 96)
        self.fc2 = nn.Linear(96, C)

    def __call__(self, x):
        return self.fc2(nn.relu(self.fc1(x)))


def soft_ce(model, x, q):
    return -mx.mean(mx.sum(q * nn.log_softmax(model(x), axis=-1), axis=-1))


xtr, ytr = data(4000)
xte_np, yte_np = data(1000)
xte, yte = mx.array(xte_np), mx.array(yte_np.astype(np.int32))
onehot = np.eye(C, dtype=np.float32)

model = MLP()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, soft_ce)

B = 100
for epoch in range(1, 16):
    perm = rng.permutation(len(xtr))
    losses = []
    for i in range(0, len(xtr), B):
        idx = perm[i:i + B]
        j = rng.permutation(len(idx))
        lam = rng.beta(1.0, 1.0, (len(idx), 1)).astype(np.float32)
        xm = lam * xtr[idx] + (1 - lam) * xtr[idx][j]
        qm = lam * onehot[ytr[idx]] + (1 - lam) * onehot[ytr[idx]][j]
        loss, grads = vg(model, mx.array(xm), mx.array(qm))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        losses.append(loss.item())
    clean_acc = mx.mean(mx.argmax(model(xte), axis=1) == yte).item()
    print(json.dumps({"epoch": epoch, "mixup_loss": round(float(np.mean(losses)), 4), "test_acc": round(clean_acc, 4)}))
