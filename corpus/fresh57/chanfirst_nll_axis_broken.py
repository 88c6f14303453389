# Per-sample tagging of a noisy two-level telegraph signal: label each sample as
# LOW (0), HIGH (1) or EDGE (2 = level changed within +-1 sample).
# Ported from a PyTorch notebook, so scores are kept channels-first (B, C, T)
# and the loss is taken over axis=1 like torch.nn.NLLLoss.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T, C = 96, 3
rs = np.random.RandomState(11)


def make(n):
    xs, ys = [], []
    for _ in range(n):
        lvl = np.zeros(T, np.int64)
        cur, t = rs.randint(2), 0
        while t < T:
            run = rs.randint(4, 16)
            lvl[t:t + run] = cur
            cur, t = 1 - cur, t + run
        y = lvl.copy()
        ch = np.nonzero(np.diff(lvl))[0]
        for c in ch:
            y[max(c, 0):min(c + 2, T)] = 2
        x = lvl * 1.0 + rs.normal(0, 0.35, T)
        xs.append(x[:, None])
        ys.append(y)
    return np.array(xs, np.float32), np.array(ys, np.int32)


Xtr, Ytr = make(512)
Xva, Yva = make(128)


def nll_loss(inputs, targets, axis=-1, reduction="none"):
    loss = -mx.take_along_axis(inputs, targets[..., None], axis).squeeze(-1)
    if reduction == "mean":
        return mx.mean(loss)
    return loss


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 24, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(24, 24, kernel_size=5, padding=2)
        self.head = nn.Conv1d(24, C, kernel_size=1)

    def __call__(self, x):              # x: (B, T, 1)
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        s = self.head(h)                # (B, T, C)
        return s.transpose(0, 2, 1)     # (B, C, T), torch layout


def loss_fn(model, x, y):
    logp = nn.log_softmax(model(x), axis=1)
    return nll_loss(logp, y, axis=1, reduction="mean")


mx.random.seed(0)
model = Tagger()
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)

print("epoch | train_nll | val_acc | edge_recall | sec")
t0 = time.time()
for epoch in range(12):
    idx = rs.permutation(len(Xtr))
    tot, nb = 0.0, 0
    for i in range(0, len(idx), 32):
        b = idx[i:i + 32]
        loss, grads = vg(model, mx.array(Xtr[b]), mx.array(Ytr[b]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        tot += loss.item()
        nb += 1
    pred = np.array(mx.argmax(model(mx.array(Xva)), axis=1))
    acc = (pred == Yva).mean()
    rec = (pred[Yva == 2] == 2).mean()
    print(f"{epoch:5d} | {tot / nb:9.4f} | {acc:7.3f} | {rec:11.3f} | {time.time() - t0:4.1f}")
