import json
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
K, D = 6, 10
kinds = ["anemone", "limpet", "chiton", "urchin", "sculpin", "hermit"]
proto = rng.normal(0, 1.2, size=(K, D))

def make(n, flip):
    y = rng.integers(0, K, size=n)
    x = proto[y] + rng.normal(0, 1.1, size=(n, D))
    x[:, 3] += 0.8 * np.sin(x[:, 0] * 1.5)
    noisy = y.copy()
    m = rng.random(n) < flip
    noisy[m] = rng.integers(0, K, size=m.sum())
    return x.astype(np.float32), noisy.astype(np.int32), y.astype(np.int32)

xtr, ytr_noisy, ytr_true = make(5000, 0.25)
xva, _, yva = make(1500, 0.0)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd

class Census(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D, 128)
        self.hid = nn.Linear(128, 128)
        self.norm = nn.LayerNorm(128)
        self.head = nn.Linear(128, K)
    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.hid(self.norm(h)))
        return self.head(h)

def loss_fn(model, x, target):
    return -(target * nn.log_softmax(model(x), axis=-1)).sum(-1).mean()

EPOCHS, BS, ALPHA_T = 24, 100, 0.8
model = Census()
steps = EPOCHS * (len(xtr) // BS)
opt = optim.SGD(learning_rate=optim.cosine_decay(0.08, steps, 1e-3), momentum=0.9, weight_decay=5e-4)
vg = nn.value_and_grad(model, loss_fn)

onehot = np.eye(K, dtype=np.float32)
prev_probs = onehot[ytr_noisy].copy()

def emit(**kw):
    print(json.dumps(kw))

emit(event="data", train=len(xtr), valid=len(xva), classes=K, label_noise_pct=25.0,
     labels_agree_with_truth_pct=round(100 * float((ytr_noisy == ytr_true).mean()), 2))
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    alpha = ALPHA_T * (ep - 1) / (EPOCHS - 1)
    target_all = (1 - alpha) * onehot[ytr_noisy] + alpha * prev_probs
    perm = rng.permutation(len(xtr))
    model.train()
    tot = 0.0
    for i in range(0, len(xtr), BS):
        idx = perm[i:i + BS]
        loss, g = vg(model, mx.array(xtr[idx]), mx.array(target_all[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    model.eval()
    prev_probs = np.array(mx.softmax(model(mx.array(xtr)), axis=-1))
    pv = np.array(mx.softmax(model(mx.array(xva)), axis=-1))
    va_acc = float((pv.argmax(1) == yva).mean())
    nll = float(-np.log(pv[np.arange(len(yva)), yva] + 1e-9).mean())
    conf = pv.max(1)
    bins = np.linspace(0, 1, 11)
    ece = 0.0
    for lo, hi in zip(bins[:-1], bins[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs((pv.argmax(1)[m] == yva[m]).mean() - conf[m].mean())
    fit_noisy = float((prev_probs.argmax(1) == ytr_noisy).mean())
    emit(event="epoch", epoch=ep, alpha=round(alpha, 4), train_soft_ce=round(tot / (len(xtr) // BS), 4),
         fit_to_given_labels_pct=round(100 * fit_noisy, 2), valid_acc_pct=round(100 * va_acc, 2),
         valid_nll=round(nll, 4), valid_ece_pct=round(100 * float(ece), 2), secs=round(time.time() - t0, 1))
emit(event="done", valid_acc_pct=round(100 * va_acc, 2), secs=round(time.time() - t0, 1))
