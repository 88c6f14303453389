# Hand-knotted rug appraisal: grade (trade / decorative / collector) from six
# bench measurements. 4-fold CV, SGD+nesterov, early stop with best-weight restore.
import logging, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO, datefmt="%H:%M:%S")
log = logging.getLogger("appraise")

rng = np.random.default_rng(2024)
N = 1600
kpsi = rng.lognormal(5.0, 0.5, N)            # knots per square inch
silk = rng.beta(1.2, 4.0, N)                  # silk share of pile
dyes = rng.integers(3, 18, N).astype(float)   # distinct dye colours
age = rng.gamma(2.0, 25.0, N)                 # years
wear = np.clip(rng.normal(20 + 0.3 * age, 12, N), 0, 95)  # % pile worn
area = rng.lognormal(1.3, 0.6, N)             # m^2
score = (1.4 * np.log(kpsi) + 2.5 * silk + 0.08 * dyes + 0.012 * age
         - 0.035 * wear + 0.15 * np.log(area) + rng.normal(0, 0.45, N))
cuts = np.quantile(score, [0.45, 0.8])
y_np = np.digitize(score, cuts)
X_np = np.stack([np.log(kpsi), silk, dyes, np.log1p(age), wear, np.log(area)], 1)
perm = rng.permutation(N)
X_np, y_np = X_np[perm], y_np[perm]


def make_model():
    return nn.Sequential(nn.Linear(6, 48), nn.ReLU(), nn.Dropout(0.1), nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 3))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


folds = np.array_split(np.arange(N), 4)
rows = []
t0 = time.time()
for k, val_idx in enumerate(folds, 1):
    trn_idx = np.setdiff1d(np.arange(N), val_idx)
    mu, sd = X_np[trn_idx].mean(0), X_np[trn_idx].std(0)
    Xt, yt = mx.array(((X_np[trn_idx] - mu) / sd).astype(np.float32)), mx.array(y_np[trn_idx])
    Xv, yv = mx.array(((X_np[val_idx] - mu) / sd).astype(np.float32)), mx.array(y_np[val_idx])
    majority = np.bincount(y_np[trn_idx]).argmax()
    base_acc = 100.0 * np.mean(y_np[val_idx] == majority)

    mx.random.seed(100 + k)
    model = make_model()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=optim.step_decay(0.05, 0.5, 200), momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    best, best_ep, best_w, patience = float("inf"), 0, None, 0
    for ep in range(1, 61):
        model.train()
        order = mx.array(rng.permutation(len(trn_idx)))
        tot = 0.0
        for i in range(0, len(trn_idx), 64):
            b = order[i:i + 64]
            loss, grads = vg(model, Xt[b], yt[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * b.shape[0]
        model.eval()
        vl = loss_fn(model, Xv, yv).item()
        acc = 100.0 * (mx.argmax(model(Xv), axis=1) == yv).astype(mx.float32).mean().item()
        if ep % 5 == 0 or ep == 1:
            log.info("fold %d ep %02d | trn %.3f | val %.3f | %.1f%% | base %.1f%%", k, ep, tot / len(trn_idx), vl, acc, base_acc)
        if vl < best - 1e-4:
            best, best_ep, patience = vl, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            patience += 1
            if patience >= 10:
                log.info("fold %d: no val gain for 10 epochs, stop at ep %d", k, ep)
                break
    model.update(best_w)
    model.eval()
    vl = loss_fn(model, Xv, yv).item()
    acc = 100.0 * (mx.argmax(model(Xv), axis=1) == yv).astype(mx.float32).mean().item()
    log.info("fold %d restored ep %d weights: val %.3f (best seen %.3f, diff %.1e)", k, best_ep, vl, best, abs(vl - best))
    rows.append((k, best_ep, vl, acc, base_acc))

print()
print(" fold | ep* |  xent |  acc % | majority %")
print("------+-----+-------+--------+-----------")
for k, e, vl, acc, b in rows:
    print(f"  {k:3d} | {e:3d} | {vl:.3f} | {acc:6.1f} | {b:9.1f}")
r = np.array([r[2:] for r in rows])
print(f" mean |     | {r[:, 0].mean():.3f} | {r[:, 1].mean():6.1f} | {r[:, 2].mean():9.1f}   ({time.time() - t0:.1f}s)")
