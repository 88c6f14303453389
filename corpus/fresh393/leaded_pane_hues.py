"""Glass-batch hue classes from spectrophotometer readings; closing per-class table in LaTeX."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

HUES = ["cobalt", "ruby", "amber", "gold_pink", "emerald", "opal", "flashed_blue"]
N_BANDS = 9

rng = np.random.default_rng(31)
# band centres per hue; amber and gold_pink sit close together on purpose
centres = rng.normal(0.0, 1.0, size=(len(HUES), N_BANDS))
centres[3] = centres[2] + rng.normal(0.0, 0.35, size=N_BANDS)
centres[6] = centres[0] + rng.normal(0.0, 0.9, size=N_BANDS)


def sample(n):
    y = rng.integers(0, len(HUES), size=n)
    thick = rng.uniform(0.6, 1.4, size=(n, 1))
    x = centres[y] * thick + rng.normal(0.0, 0.55, size=(n, N_BANDS))
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = sample(7000)
xva, yva = sample(2100)
mu, sd = xtr.mean(0), xtr.std(0)
xtr = (xtr - mu) / sd
xva = (xva - mu) / sd


class HueNet(nn.Module):
    def __init__(self, d_in, n_out, width=64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, width), nn.GELU(),
            nn.Linear(width, width), nn.GELU(),
        )
        self.head = nn.Linear(width, n_out)

    def __call__(self, x):
        return self.head(self.body(x))


mx.random.seed(5)
model = HueNet(N_BANDS, len(HUES))
steps_per_epoch = len(xtr) // 64
epochs = 16
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.3, 2 * steps_per_epoch),
     optim.cosine_decay(0.3, (epochs - 2) * steps_per_epoch, 0.01)],
    [2 * steps_per_epoch],
)
opt = optim.Adagrad(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)

print(f"% data: train {len(xtr)}  valid {len(xva)}  hues {len(HUES)}  bands {N_BANDS}")
print(f"% chance CE {np.log(len(HUES)):.4f} nats")
t0 = time.time()
for ep in range(1, epochs + 1):
    perm = mx.array(rng.permutation(len(xtr)))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * 64:(b + 1) * 64]
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        tot += loss.item()
    vlogits = model(Xva)
    vce = nn.losses.cross_entropy(vlogits, Yva, reduction="mean").item()
    vacc = (mx.argmax(vlogits, axis=1) == Yva).mean().item()
    if ep in (1, 2, 3, 4, 8, 12, 16):
        print(f"% epoch {ep:2d}  lr {float(opt.learning_rate):.4f}  train_ce {tot / steps_per_epoch:.4f}"
              f"  valid_ce {vce:.4f}  valid_acc {100 * vacc:.2f}%  {time.time() - t0:.1f}s")

pred = np.array(mx.argmax(model(Xva), axis=1))
# nearest-centroid reference fitted on the training split
cent = np.stack([xtr[ytr == k].mean(0) for k in range(len(HUES))])
ref = np.argmin(((xva[:, None, :] - cent[None]) ** 2).sum(-1), axis=1)


def prf(p, y, k):
    tp = np.sum((p == k) & (y == k))
    prec = tp / max(np.sum(p == k), 1)
    rec = tp / max(np.sum(y == k), 1)
    f1 = 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)
    return prec, rec, f1


print()
print(r"\begin{tabular}{lrrrrr}")
print(r"\toprule")
print(r"hue & support & precision & recall & F1 & F1 (centroid) \\")
print(r"\midrule")
f1s, f1r, sup = [], [], []
for k, h in enumerate(HUES):
    p, r, f = prf(pred, yva, k)
    _, _, fr = prf(ref, yva, k)
    s = int(np.sum(yva == k))
    f1s.append(f); f1r.append(fr); sup.append(s)
    print(f"{h.replace('_', chr(92) + '_')} & {s} & {p:.3f} & {r:.3f} & {f:.3f} & {fr:.3f} \\\\")
print(r"\midrule")
sup = np.array(sup)
print(f"macro avg & {sup.sum()} & -- & -- & {np.mean(f1s):.3f} & {np.mean(f1r):.3f} \\\\")
print(f"weighted avg & {sup.sum()} & -- & -- & {np.dot(f1s, sup) / sup.sum():.3f} & {np.dot(f1r, sup) / sup.sum():.3f} \\\\")
print(f"accuracy & {sup.sum()} & -- & {np.mean(pred == yva):.3f} & -- & {np.mean(ref == yva):.3f} \\\\")
maj = np.bincount(ytr).argmax()
print(f"majority ({HUES[maj].replace('_', chr(92) + '_')}) & {sup.sum()} & -- & {np.mean(yva == maj):.3f} & -- & -- \\\\")
print(r"\bottomrule")
print(r"\end{tabular}")
