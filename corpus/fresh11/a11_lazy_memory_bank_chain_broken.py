"""Instance-discrimination style embedding training with a per-sample memory bank.

The bank keeps a momentum average of every sample's embedding and is used at
the end for a weighted kNN evaluation (no labels are used during training).
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)

N, D_IN, D_EMB, N_CLASSES = 4096, 48, 256, 8
centers = 3.0 * mx.random.normal((N_CLASSES, D_IN))
labels = mx.random.randint(0, N_CLASSES, (N,))
data = centers[labels] + mx.random.normal((N, D_IN))
mx.eval(data, labels)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D_IN, 128)
        self.l2 = nn.Linear(128, D_EMB)

    def __call__(self, x):
        z = self.l2(nn.gelu(self.l1(x)))
        return z / (mx.linalg.norm(z, axis=-1, keepdims=True) + 1e-6)


def augment(x):
    return x + 0.3 * mx.random.normal(x.shape)


def info_nce(model, x):
    z1 = model(augment(x))
    z2 = model(augment(x))
    logits = (z1 @ z2.T) / 0.2
    targets = mx.arange(x.shape[0])
    return mx.mean(nn.losses.cross_entropy(logits, targets)), mx.stop_gradient(z1)


model = Encoder()
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, info_nce)

bank = mx.zeros((N, D_EMB))
BATCH, EPOCHS, BANK_M = 256, 40, 0.5

t0 = time.time()
step = 0
for epoch in range(EPOCHS):
    perm = mx.random.permutation(N)
    running = 0.0
    for i in range(0, N, BATCH):
        idx = perm[i:i + BATCH]
        (loss, feats), grads = loss_and_grad(model, data[idx])
        optimizer.update(model, grads)
        # momentum update of the memory bank rows seen in this batch
        bank[idx] = BANK_M * bank[idx] + (1 - BANK_M) * feats
        mx.eval(model.parameters(), optimizer.state, loss)
        running += loss.item()
        step += 1
    if epoch % 4 == 0 or epoch == EPOCHS - 1:
        print(json.dumps({"epoch": epoch, "step": step, "info_nce": round(running / (N // BATCH), 4),
                          "elapsed_s": round(time.time() - t0, 1)}), flush=True)

# weighted kNN on the bank, leave-one-out
bank = bank / (mx.linalg.norm(bank, axis=-1, keepdims=True) + 1e-6)
sims = bank @ bank.T - 2.0 * mx.eye(N)
nn_idx = mx.argsort(-sims, axis=-1)[:, :10]
votes = mx.sum(mx.eye(N_CLASSES)[labels[nn_idx]], axis=1)
knn_acc = mx.mean(mx.argmax(votes, axis=-1) == labels).item()
print(json.dumps({"final": True, "knn_acc": round(knn_acc, 4)}))
