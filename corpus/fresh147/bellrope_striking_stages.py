# Change-ringing striking analysis: predict the signed striking error (ms) of each
# blow from the bell and ringer. Stage 1 trains on call-changes in rounds, stage 2
# on touches of a method (harder: place-dependent timing, hand/back asymmetry).
import math
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(3)
mx.random.seed(3)


def ring_blows(n, stage):
    rows = []
    for _ in range(n):
        bell = random.randint(1, 8)
        cwt = 4.0 + 2.2 * bell + random.uniform(-1, 1)        # tenor is heaviest
        place = random.randint(1, 8) if stage == "method" else bell
        hand = random.randint(0, 1)
        years = random.uniform(0.5, 30.0)
        err = 6.0 * math.log(cwt) - 14.0 / math.sqrt(years)
        if stage == "method":
            err += 9.0 * math.sin(place * 0.9) * (1.2 if hand else -0.8)
            err += 0.35 * abs(place - bell) ** 1.5
            noise = 4.0
        else:
            noise = 2.0
        err += random.gauss(0, noise) + (5.0 if hand else -5.0)
        x = [cwt / 20.0, place / 8.0, float(hand), math.log(years) / 3.0,
             math.sin(place * 0.9), bell / 8.0]
        rows.append((x, err))
    X = mx.array([r[0] for r in rows])
    y = mx.array([r[1] for r in rows])
    return X, y


model = nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, 1))
mx.eval(model.parameters())


def loss_fn(m, X, y):
    return nn.losses.huber_loss(m(X).squeeze(-1), y, delta=8.0, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def rmse(X, y):
    return math.sqrt(mx.mean((model(X).squeeze(-1) - y) ** 2).item())


print(f"{'stage':<7}{'step':>6}{'rmse_ms':>10}{'mean_pred_ms':>14}{'lr':>10}")
for stage, steps, peak in (("rounds", 600, 4e-3), ("method", 1200, 3e-3)):
    Xtr, ytr = ring_blows(3000, stage)
    Xva, yva = ring_blows(600, stage)
    baseline = math.sqrt(mx.mean((yva - mx.mean(ytr)) ** 2).item())
    warm = optim.linear_schedule(0.0, peak, 150)
    cos = optim.cosine_decay(peak, steps - 150, 1e-4)
    opt = optim.Adamax(learning_rate=optim.join_schedules([warm, cos], [150]))
    best, best_rmse, bad = None, float("inf"), 0
    for step in range(steps):
        idx = mx.random.randint(0, Xtr.shape[0], (64,))
        lr_now = opt.learning_rate.item()
        loss, grads = grad_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == steps - 1:
            r = rmse(Xva, yva)
            print(f"{stage:<7}{step:>6}{r:>10.3f}{baseline:>14.3f}{lr_now:>10.2e}")
            if r < best_rmse - 1e-3:
                best_rmse, bad = r, 0
                best = dict(tree_flatten(model.parameters()))
            else:
                bad += 1
                if bad >= 6:
                    print(f"{stage:<7}{step:>6}  early stop, restoring best ({best_rmse:.3f})")
                    break
    model.update(__import__("mlx.utils").utils.tree_unflatten(list(best.items())))
    mx.eval(model.parameters())
    after = rmse(Xva, yva)
    drift = max(mx.max(mx.abs(v - best[k])).item() for k, v in tree_flatten(model.parameters()))
    print(f"check  {stage}: restored rmse {after:.3f} vs best {best_rmse:.3f}, max|w-w_best| {drift:.1e}")
