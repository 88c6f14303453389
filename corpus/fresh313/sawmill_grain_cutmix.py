# Sawmill board grading: 4 wood-grain classes (straight / spiral / burl / knotty) from
# synthetic 12x12 one-channel board scans. Small conv net, AdamW, warmup from lr 0 then cosine,
# CutMix on training batches with area-weighted soft targets, clean validation vs baseline.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
H = W = 12
C = 4

def make_board(c):
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    ph = rng.uniform(0, 2 * np.pi)
    if c == 0:
        img = np.sin(x * 1.3 + ph)
    elif c == 1:
        img = np.sin((x + 0.8 * y) * 1.1 + ph)
    elif c == 2:
        cy, cx = rng.uniform(3, 9, 2)
        img = np.sin(np.hypot(y - cy, x - cx) * 1.6 + ph)
    else:
        img = np.sin(x * 1.3 + ph)
        for _ in range(2):
            cy, cx = rng.integers(2, 10, 2)
            img[max(cy - 1, 0):cy + 2, max(cx - 1, 0):cx + 2] = -1.5
    return img + rng.normal(0, 0.35, (H, W))

def dataset(n):
    ys = rng.integers(0, C, n)
    xs = np.stack([make_board(int(c)) for c in ys])[..., None].astype(np.float32)
    return xs, ys.astype(np.int32)

xtr, ytr = dataset(1200)
xva, yva = dataset(400)
mu, sd = xtr.mean(), xtr.std()
xtr = (xtr - mu) / sd
xva = (xva - mu) / sd
Xva, Yva = mx.array(xva), mx.array(yva)

class GrainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1, stride=2)
        self.c3 = nn.Conv2d(16, 16, 3, padding=1)
        self.head = nn.Linear(16, C)

    def __call__(self, x):
        x = nn.gelu(self.c1(x))
        x = nn.gelu(self.c2(x))
        x = nn.gelu(self.c3(x))
        return self.head(x.mean(axis=(1, 2)))

def cutmix(xb, yb):
    n = xb.shape[0]
    perm = rng.permutation(n)
    lam = rng.beta(1.0, 1.0)
    ch = int(round(H * math.sqrt(1 - lam)))
    cw = int(round(W * math.sqrt(1 - lam)))
    y0 = rng.integers(0, H - ch + 1)
    x0 = rng.integers(0, W - cw + 1)
    xm = xb.copy()
    xm[:, y0:y0 + ch, x0:x0 + cw] = xb[perm, y0:y0 + ch, x0:x0 + cw]
    area = ch * cw / (H * W)
    t = np.eye(C, dtype=np.float32)[yb] * (1 - area) + np.eye(C, dtype=np.float32)[yb[perm]] * area
    return xm, t

model = GrainNet()
mx.eval(model.parameters())
EPOCHS, BS = 8, 64
steps_per_epoch = len(xtr) // BS
total = EPOCHS * steps_per_epoch
warm = steps_per_epoch * 2
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-5)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def soft_ce(m, x, t):
    z = m(x)
    logp = z - mx.logsumexp(z, axis=-1, keepdims=True)
    return -(t * logp).sum(axis=-1).mean()

loss_and_grad = nn.value_and_grad(model, soft_ce)

majority = np.bincount(ytr, minlength=C).max() / len(ytr)
print(f"train {len(xtr)} val {len(xva)} | majority-class baseline acc {majority:.3f} | chance loss {math.log(C):.3f}")
step = 0
for ep in range(EPOCHS):
    order = rng.permutation(len(xtr))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = order[i * BS:(i + 1) * BS]
        xm, t = cutmix(xtr[idx], ytr[idx])
        loss, g = loss_and_grad(model, mx.array(xm), mx.array(t))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        step += 1
    logits = model(Xva)
    vloss = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
    vacc = (mx.argmax(logits, axis=-1) == Yva).astype(mx.float32).mean().item()
    print(f"epoch {ep+1:2d} step {step:4d} lr {opt.learning_rate.item():.2e} "
          f"cutmix-train-loss {tot/steps_per_epoch:.3f} val-loss {vloss:.3f} val-acc {vacc:.3f} (baseline {majority:.3f})")
print(f"final val-acc {vacc:.3f}")
