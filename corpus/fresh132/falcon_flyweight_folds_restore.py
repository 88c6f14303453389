"""Falconry mews notebook: predict tomorrow's morning weight change (grams) of a
hawk from today's log (food given, casting, exercise, temperature, ...).
5-fold cross-validation; each fold trains a small net with RMSprop, early-stops
on validation MAE and restores the best weights before scoring."""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s mews | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("mews")

rng = np.random.default_rng(2024)
mx.random.seed(2024)
N = 2400
food_g = rng.uniform(20, 110, N)            # day's food, grams (beef / quail / chick)
quail = rng.integers(0, 2, N)               # rich quail vs lean beef
casting = rng.integers(0, 2, N)             # fur/feather given
flights = rng.poisson(6, N)                 # lure passes / flights flown
temp_c = rng.normal(9, 7, N)                # overnight temperature
weight = rng.normal(680, 45, N)             # current weight, g (female Harris hawk)
moult = rng.integers(0, 2, N)

# made-up law: energy in - upkeep - exercise, colder nights cost more, heavier birds burn more
dw = (0.55 * food_g * (1 + 0.35 * quail) - 0.028 * weight - 1.6 * flights
      - 0.9 * np.maximum(0, 12 - temp_c) - 4.0 * casting + 3.5 * moult
      + 6 * np.tanh((food_g - 70) / 25) * (1 - 0.5 * casting))
dw += rng.normal(0, 2.5, N)
X = np.stack([food_g, quail, casting, flights, temp_c, weight, moult], 1).astype(np.float32)
y = dw.astype(np.float32)

K = 5
perm = rng.permutation(N)
folds = np.array_split(perm, K)


def make_model():
    return nn.Sequential(nn.Linear(7, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))


def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb).squeeze(-1), yb, delta=3.0, reduction="mean")


summary = []
for k in range(K):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(K) if j != k])
    m_, s_ = X[tr].mean(0), X[tr].std(0) + 1e-6
    Xtr, Xva = mx.array((X[tr] - m_) / s_), mx.array((X[va] - m_) / s_)
    ytr, yva = mx.array(y[tr]), mx.array(y[va])
    base_mae = float(np.abs(y[va] - y[tr].mean()).mean())   # predict the training mean

    model = make_model()
    opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
    step = nn.value_and_grad(model, loss_fn)
    if k == 0:
        _, g0 = step(model, Xtr[:256], ytr[:256])
        zero = [n for n, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
        log.info("grad check: %d tensors, zero-grad tensors: %s", len(tree_flatten(g0)), zero or "none")

    best, best_ep, best_w, wait, patience = float("inf"), 0, None, 0, 6
    log.info("fold %d/%d  train=%d val=%d  baseline MAE %.2f g", k + 1, K, len(tr), len(va), base_mae)
    print(f"  {'ep':>3} | {'train huber':>11} | {'val MAE g':>9} | {'vs base':>7} | note")
    for ep in range(1, 61):
        order = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        for i in range(0, len(tr), 64):
            b = order[i:i + 64]
            l, g = step(model, Xtr[b], ytr[b])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, l)
            tot += l.item() * b.size
        mae = mx.abs(model(Xva).squeeze(-1) - yva).mean().item()
        note = ""
        if mae < best - 1e-3:
            best, best_ep, wait = mae, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            note = "*"
        else:
            wait += 1
        if ep <= 3 or ep % 10 == 0 or note == "" and wait == patience:
            print(f"  {ep:>3} | {tot/len(tr):>11.4f} | {mae:>9.3f} | {100*mae/base_mae:>6.1f}% | {note}")
        if wait >= patience:
            print(f"  early stop at ep {ep}; restoring ep {best_ep}")
            break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = model(Xva).squeeze(-1)
    mae = mx.abs(pred - yva).mean().item()
    r2 = 1 - float(((pred - yva) ** 2).sum().item()) / float(((yva - yva.mean()) ** 2).sum().item())
    log.info("fold %d restored ep %d: val MAE %.3f g (baseline %.2f)  R2 %.1f%%", k + 1, best_ep, mae, base_mae, 100 * r2)
    summary.append((k + 1, best_ep, mae, base_mae, r2))

print("\nfold  best_ep  MAE_g   base_g  R2")
for f, e, m, b, r in summary:
    print(f"{f:>4}  {e:>7}  {m:6.3f}  {b:6.2f}  {100*r:5.1f}%")
arr = np.array([s[2] for s in summary])
print(f"CV MAE {arr.mean():.3f} +/- {arr.std():.3f} g  (noise sd 2.5 g -> ideal MAE ~{2.5*np.sqrt(2/np.pi):.2f} g)")
