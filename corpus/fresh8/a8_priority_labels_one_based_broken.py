# Ticket triage: predict a priority level (1 = low ... 4 = urgent) from a
# bag-of-words vector. Labels come from a CSV column as the strings "1".."4".
import csv
import io
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("triage")
mx.random.seed(0)
rng = np.random.default_rng(0)

VOCAB = 200
N_LEVELS = 4

# --- synthetic "export" of the ticket database -----------------------------
proto = rng.normal(size=(N_LEVELS, VOCAB))
rows = ["ticket_id,priority," + ",".join(f"w{i}" for i in range(VOCAB))]
for t in range(1500):
    level = int(rng.integers(1, N_LEVELS + 1))
    counts = rng.poisson(np.exp(0.6 * proto[level - 1]) * 0.3)
    rows.append(f"{t},{level}," + ",".join(str(c) for c in counts))
reader = csv.reader(io.StringIO("\n".join(rows)))
next(reader)
feats, labels = [], []
for r in reader:
    labels.append(int(r[1]))
    feats.append([float(v) for v in r[2:]])
X = np.log1p(np.array(feats, dtype=np.float32))
y = np.array(labels, dtype=np.int32)

split = 1200
Xtr, ytr = mx.array(X[:split]), mx.array(y[:split])
Xva, yva = mx.array(X[split:]), mx.array(y[split:])


class Triage(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(VOCAB, 64)
        self.drop = nn.Dropout(0.1)
        self.fc2 = nn.Linear(64, N_LEVELS)

    def __call__(self, x):
        return self.fc2(self.drop(nn.relu(self.fc1(x))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Triage()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-2)
vg = nn.value_and_grad(model, loss_fn)

for epoch in range(1, 11):
    model.train()
    perm = rng.permutation(split)
    tot, nb = 0.0, 0
    for i in range(0, split, 50):
        idx = mx.array(perm[i:i + 50])
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    model.eval()
    logits = model(Xva)
    acc = (mx.argmax(logits, axis=1) == yva).mean().item()
    log.info("epoch %d train_ce=%.4f val_acc=%.3f", epoch, tot / nb, acc)
