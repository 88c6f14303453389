# Paper mill: predict the sheet grade (4 classes) from wet-end furnish readings.
# Curriculum: stage "easy" trains on clean, well-separated reels, then stage "full"
# adds the noisy/borderline reels, so the loss jumps up at the stage change.
# LR warms up linearly from exactly 0 in each stage. Logs are JSON lines.
import json
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N, D, C = 6000, 8, 4
X = rng.normal(size=(N, D)).astype(np.float32)
W_true = rng.normal(size=(D, C)).astype(np.float32)
logits = X @ W_true + 0.6 * np.sin(2.0 * X[:, :C])
margin = np.sort(logits, 1)[:, -1] - np.sort(logits, 1)[:, -2]
noise = rng.gumbel(size=logits.shape).astype(np.float32) * 0.8
y = np.argmax(logits + noise, 1).astype(np.int32)
easy = margin > np.quantile(margin, 0.5)
Xv, yv = X[-1000:], y[-1000:]
Xt, yt, et = X[:-1000], y[:-1000], easy[:-1000]


class FurnishNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, C)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


model = FurnishNet()
mx.eval(model.parameters())


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


lg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
step = 0
for stage, mask, epochs in (("easy", et, 6), ("full", np.ones_like(et), 10)):
    Xs, ys = Xt[mask], yt[mask]
    steps_per = len(Xs) // 100
    total = steps_per * epochs
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 40), optim.cosine_decay(2e-3, total - 40, 1e-4)], [40])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    for ep in range(epochs):
        perm = rng.permutation(len(Xs))
        tot = 0.0
        for i in range(steps_per):
            idx = perm[i * 100:(i + 1) * 100]
            loss, grads = lg(model, mx.array(Xs[idx]), mx.array(ys[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            step += 1
        pv = model(mx.array(Xv))
        vloss = nn.losses.cross_entropy(pv, mx.array(yv), reduction="mean").item()
        acc = (mx.argmax(pv, 1) == mx.array(yv)).mean().item()
        print(json.dumps({"stage": stage, "epoch": ep, "step": step, "lr": round(float(opt.learning_rate.item()), 6),
                          "train_xent": round(tot / steps_per, 4), "val_xent": round(vloss, 4),
                          "grade_acc_pct": round(100 * acc, 2), "majority_pct": round(100 * np.bincount(yv).max() / len(yv), 2)}))
print(json.dumps({"done": True, "seconds": round(time.time() - t0, 2)}))
