"""Lifeguard tower log: rip-current speed (m/s) from a morning beach survey.

Validation every 50 steps (mid-epoch), early stopping counted in evaluations,
best weights written to a safetensors file and loaded back before the test,
test metrics printed beside two baselines.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(384)
mx.random.seed(384)

FEATURES = ["wave_h_m", "period_s", "tide_m", "tide_rate", "bar_gap_m",
            "wind_onshore", "swell_angle", "crowd_k"]


def survey(n):
    hs = rng.gamma(3.0, 0.35, n)                 # wave height
    tp = rng.uniform(5, 14, n)                   # period
    tide = rng.uniform(-1.2, 1.2, n)
    rate = rng.normal(0, 0.4, n)                 # falling tide < 0
    gap = rng.uniform(5, 60, n)                  # sandbar channel width
    wind = rng.normal(0, 5, n)
    ang = rng.uniform(-40, 40, n)                # degrees off shore-normal
    crowd = rng.gamma(2.0, 0.6, n)               # pure distractor
    flux = hs ** 2 * tp / 10.0
    speed = (0.25 + 0.55 * np.tanh(flux / 2.0) * np.exp(-((gap - 20) / 25) ** 2)
             * np.cos(np.deg2rad(ang)) * (1.0 - 0.35 * np.tanh(tide))
             - 0.12 * np.tanh(rate / 0.3) + 0.01 * wind)
    speed = np.clip(speed + rng.normal(0, 0.06, n), 0.0, None)
    X = np.stack([hs, tp, tide, rate, gap, wind, ang, crowd], 1)
    return X.astype(np.float32), speed.astype(np.float32)


Xtr, ytr = survey(5000)
Xva, yva = survey(1000)
Xte, yte = survey(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array(((y - ymu) / ysd)[:, None])


Xtr_m, ytr_m = prep(Xtr, ytr)
Xva_m, yva_m = prep(Xva, yva)
Xte_m, yte_m = prep(Xte, yte)


class RipNet(nn.Module):
    def __init__(self, d_in=8, h=64, p=0.1):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.bn1 = nn.BatchNorm(h)
        self.l2 = nn.Linear(h, h)
        self.bn2 = nn.BatchNorm(h)
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = self.drop(nn.relu(self.bn1(self.l1(x))))
        x = self.drop(nn.relu(self.bn2(self.l2(x))))
        return self.out(x)


def spearman(a, b):
    ra = np.argsort(np.argsort(a)).astype(np.float64)
    rb = np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


def scores(pred_std, y):
    pred = np.asarray(pred_std).reshape(-1) * ysd + ymu
    mae = float(np.mean(np.abs(pred - y)))
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    return mae, rmse, spearman(pred, y)


def evaluate(model, X):
    model.eval()
    pred = model(X)
    mx.eval(pred)
    model.train()
    return np.array(pred)


model = RipNet()
mx.eval(model.parameters())
opt = optim.Adagrad(learning_rate=0.03)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)

# baselines on the test beach days
mean_pred = np.full_like(yte, ytr.mean())
A = np.c_[Xtr, np.ones(len(Xtr))]
w, *_ = np.linalg.lstsq(A, ytr, rcond=None)
lin_pred = np.c_[Xte, np.ones(len(Xte))] @ w
base = {
    "train_mean": (float(np.mean(np.abs(mean_pred - yte))),
                   float(np.sqrt(np.mean((mean_pred - yte) ** 2))), float("nan")),
    "linear_lstsq": (float(np.mean(np.abs(lin_pred - yte))),
                     float(np.sqrt(np.mean((lin_pred - yte) ** 2))), spearman(lin_pred, yte)),
}

ckpt_dir = tempfile.mkdtemp(prefix="riptide_")
best_path = os.path.join(ckpt_dir, "best.safetensors")

BATCH, EVAL_EVERY, PATIENCE, MAX_EPOCHS = 64, 50, 8, 30
print("# rip-current survey: train %d  val %d  test %d  features %s"
      % (len(ytr), len(yva), len(yte), ",".join(FEATURES)))
print("\t".join(["step", "epoch", "train_mse_std", "val_mae_ms", "val_rmse_ms",
                 "val_spearman", "best", "waited", "sec"]))
m0 = scores(evaluate(model, Xva_m), yva)
print("\t".join(["0", "0", "-", "%.4f" % m0[0], "%.4f" % m0[1], "%+.3f" % m0[2], "", "0", "0.0"]))

t0 = time.time()
best_mae, best_step, waited, step, stop = float("inf"), 0, 0, 0, False
run_loss, run_n = 0.0, 0
for epoch in range(1, MAX_EPOCHS + 1):
    perm = mx.array(rng.permutation(len(ytr)))
    for i in range(0, len(ytr) - BATCH + 1, BATCH):
        idx = perm[i:i + BATCH]
        loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        run_loss += loss.item()
        run_n += 1
        if step % EVAL_EVERY == 0:
            mae, rmse, rho = scores(evaluate(model, Xva_m), yva)
            mark = ""
            if mae < best_mae - 1e-4:
                best_mae, best_step, waited, mark = mae, step, 0, "*"
                model.save_weights(best_path)
            else:
                waited += 1
            print("\t".join([str(step), str(epoch), "%.4f" % (run_loss / run_n),
                             "%.4f" % mae, "%.4f" % rmse, "%+.3f" % rho, mark,
                             str(waited), "%.1f" % (time.time() - t0)]))
            run_loss, run_n = 0.0, 0
            if waited >= PATIENCE:
                stop = True
                break
    if stop:
        break

print("# stopped at step %d (epoch %d): no val MAE gain in %d evaluations; best step %d"
      % (step, epoch, PATIENCE, best_step))
last = scores(evaluate(model, Xte_m), yte)
model.load_weights(best_path)
mx.eval(model.parameters())
kept = scores(evaluate(model, Xte_m), yte)
print("# test (m/s)\tMAE\tRMSE\tspearman")
for name, (a, b, c) in base.items():
    rho_txt = "n/a" if np.isnan(c) else "%+.3f" % c
    print("# %-16s\t%.4f\t%.4f\t%s" % (name, a, b, rho_txt))
print("# %-16s\t%.4f\t%.4f\t%+.3f" % ("net_last_step", *last))
print("# %-16s\t%.4f\t%.4f\t%+.3f" % ("net_best_ckpt", *kept))
os.remove(best_path)
os.rmdir(ckpt_dir)
