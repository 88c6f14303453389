# Lacrosse video-analysis notebook: will a shot on goal score?
# 5-fold cross-validation of a small MLP on synthetic shot records
# (distance, angle, shot speed, release height, defender gap, goalie
# screened flag, off-hand, transition). Hand-written Nesterov SGD,
# learning-rate warmup from exactly 0 in every fold, early stopping with
# restore of the best weights per fold.
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
log = logging.getLogger("shotlab")

rng = np.random.default_rng(7)
N = 5000
dist = rng.uniform(2, 16, N)            # metres
ang = rng.uniform(-70, 70, N)           # degrees off centre
speed = rng.normal(130, 15, N)          # km/h
height = rng.uniform(0.3, 2.2, N)       # release height m
gap = rng.exponential(1.5, N)           # metres to nearest defender
screened = rng.random(N) < 0.3
offhand = rng.random(N) < 0.25
trans = rng.random(N) < 0.2
logit = (1.2 - 0.22 * dist - 0.0006 * ang ** 2 + 0.03 * (speed - 130) + 0.6 * np.tanh(gap - 1.0)
         + 0.8 * screened - 0.5 * offhand + 0.6 * trans - 0.7 * (height - 1.2) ** 2)
y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(np.int32)
X = np.stack([dist, ang, speed, height, gap, screened, offhand, trans], 1).astype(np.float32)
log.info("shots=%d goals=%.1f%%", N, 100 * y.mean())

class ShotNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 2)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))

def loss_fn(model, x, t):
    return nn.losses.cross_entropy(model(x), t, reduction="mean")

K, EPOCHS, BS, PEAK_LR, MU, WARM_STEPS, PATIENCE = 5, 30, 64, 0.05, 0.9, 150, 4
folds = np.array_split(rng.permutation(N), K)
summary = []
for k in range(K):
    te = folds[k]
    tr = np.concatenate([folds[j] for j in range(K) if j != k])
    m_, s_ = X[tr].mean(0), X[tr].std(0)
    xtr, ytr = mx.array((X[tr] - m_) / s_), mx.array(y[tr])
    xte, yte = mx.array((X[te] - m_) / s_), mx.array(y[te])
    base = max(y[te].mean(), 1 - y[te].mean())          # majority-class accuracy

    mx.random.seed(100 + k)
    model = ShotNet()
    mx.eval(model.parameters())
    vel = tree_map(mx.zeros_like, model.trainable_parameters())
    vg = nn.value_and_grad(model, loss_fn)
    best, best_ep, best_w, bad, step = math.inf, 0, None, 0, 0
    for ep in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr)))
        run = 0.0
        nb = 0
        for i in range(0, len(tr), BS):
            idx = perm[i:i + BS]
            lr = PEAK_LR * min(1.0, step / WARM_STEPS)   # step 0 -> lr exactly 0
            loss, g = vg(model, xtr[idx], ytr[idx])
            params = model.trainable_parameters()
            vel = tree_map(lambda v, gg: MU * v + gg, vel, g)
            new = tree_map(lambda p, v, gg: p - lr * (gg + MU * v), params, vel, g)
            model.update(new)
            mx.eval(model.parameters(), vel, loss)
            run += loss.item(); nb += 1; step += 1
        vloss = loss_fn(model, xte, yte).item()
        acc = (model(xte).argmax(1) == yte).astype(mx.float32).mean().item()
        log.info("fold %d/%d epoch %02d lr=%.4f train_ce=%.4f val_ce=%.4f val_acc=%.2f%% (majority %.2f%%)",
                 k + 1, K, ep, lr, run / nb, vloss, 100 * acc, 100 * base)
        if vloss < best - 1e-4:
            best, best_ep, bad = vloss, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            bad += 1
            if bad >= PATIENCE:
                log.warning("fold %d: early stop at epoch %d (best epoch %d, val_ce %.4f)", k + 1, ep, best_ep, best)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    acc = (model(xte).argmax(1) == yte).astype(mx.float32).mean().item()
    diff = abs(loss_fn(model, xte, yte).item() - best)
    log.info("fold %d restored epoch %d: val_ce=%.4f |restore diff|=%.2e acc=%.2f%%", k + 1, best_ep, best, diff, 100 * acc)
    summary.append((k + 1, best_ep, best, acc, base))

print("\nfold | best_ep | val_ce | acc %  | majority %")
for f, e, c, a, b in summary:
    print(f"{f:4d} | {e:7d} | {c:.4f} | {100*a:6.2f} | {100*b:6.2f}")
accs = np.array([s[3] for s in summary])
print(f"mean acc {100*accs.mean():.2f}% +- {100*accs.std():.2f}  (majority {100*np.mean([s[4] for s in summary]):.2f}%)")
