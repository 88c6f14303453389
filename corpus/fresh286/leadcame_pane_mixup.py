# Stained-glass restoration studio: grade pane deterioration from a 40-bin
# transmittance scan (sound / pitting / crizzling / came fatigue).
# 1-D conv net, input mixup with soft targets, linear warm-up from 0, cosine decay,
# mixup switched off for the last two epochs.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
CLASSES = ["sound", "pitting", "crizzling", "came_fatigue"]
K, BINS = len(CLASSES), 40


def make_scans(n):
    y = rng.choice(K, size=n, p=[0.40, 0.25, 0.20, 0.15])
    w = np.linspace(0.0, 1.0, BINS)
    base = 0.8 - 0.25 * w + 0.05 * rng.normal(size=(n, 1))
    x = base.copy()
    for i, c in enumerate(y):
        if c == 1:   # pitting: a narrow absorption dip at a random place
            mu = rng.uniform(0.2, 0.8)
            x[i] -= 0.25 * np.exp(-((w - mu) ** 2) / 0.002)
        elif c == 2:  # crizzling: fine ripple across the scan
            x[i] += 0.08 * np.sin(2 * np.pi * rng.uniform(7, 9) * w + rng.uniform(0, 6))
        elif c == 3:  # came fatigue: loss at the edges
            x[i] -= 0.2 * (np.exp(-w / 0.08) + np.exp(-(1 - w) / 0.08))
    x += 0.04 * rng.normal(size=x.shape)
    return x.astype(np.float32)[..., None], y.astype(np.int32)


class PaneNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5, padding=2)
        self.c2 = nn.Conv1d(16, 32, 5, padding=2)
        self.head = nn.Linear(64, K)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        h = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(h)


xtr, ytr = make_scans(2000)
xva, yva = make_scans(800)
mu, sd = xtr.mean(), xtr.std()
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xva, Yva = mx.array(xva), mx.array(yva)

majority = np.mean(yva == np.bincount(ytr).argmax())
cent = np.stack([xtr[ytr == c, :, 0].mean(0) for c in range(K)])
nc_pred = np.argmin(((xva[:, None, :, 0] - cent[None]) ** 2).sum(-1), axis=1)
print(f"train {len(ytr)}  val {len(yva)}  classes {CLASSES}")
print(f"baselines: majority acc {majority:.3f}  nearest-centroid acc {np.mean(nc_pred == yva):.3f}  chance nll {np.log(K):.3f}")

model = PaneNet()
mx.eval(model.parameters())
EPOCHS, BS = 8, 100
steps_per_epoch = len(ytr) // BS
total = EPOCHS * steps_per_epoch
warm = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)


def loss_fn(m, x, t):
    return nn.losses.cross_entropy(m(x), t, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
eye = np.eye(K, dtype=np.float32)
t0 = time.time()
step = 0
for ep in range(EPOCHS):
    use_mix = ep < EPOCHS - 2
    perm = rng.permutation(len(ytr))
    run = []
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        xb, tb = xtr[idx], eye[ytr[idx]]
        if use_mix:
            lam = rng.beta(0.4, 0.4)
            j = rng.permutation(BS)
            xb = lam * xb + (1 - lam) * xb[j]
            tb = lam * tb + (1 - lam) * tb[j]
        lr_now = float(opt.learning_rate) if step > 0 else 0.0
        loss, g = step_fn(model, mx.array(xb), mx.array(tb))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        run.append(loss.item())
        if step == 0:
            print(f"step 0  lr {lr_now:.5f}  loss {run[-1]:.4f}")
        step += 1
    model.eval()
    logits = model(Xva)
    vnll = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
    vacc = mx.mean(mx.argmax(logits, axis=1) == Yva).item()
    model.train()
    print(f"epoch {ep+1:2d}  mixup {'on ' if use_mix else 'off'}  lr {float(opt.learning_rate):.5f}  "
          f"train_loss {np.mean(run):.4f}  val_nll {vnll:.4f}  val_acc {vacc:.3f}")
print(f"final val_acc {vacc:.3f} vs nearest-centroid {np.mean(nc_pred == yva):.3f}  ({time.time()-t0:.1f}s)")
