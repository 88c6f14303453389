"""Railway lost-property office: how many items get handed in at a station on
a given day. Most station-days have none, so the model is a HURDLE Poisson:
a gate gives P(any item) and a zero-truncated Poisson gives the count when
there is at least one.

Two optimisers on purpose: the shared trunk uses SGD with momentum and a step
decay, the two heads use Adam. Early stopping on the validation deviance
restores the best weights. Nothing is printed while training: the history is
collected and printed as one table at the end.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class Config:
    n_train = 14000
    n_valid = 3000
    batch = 100
    max_epochs = 40
    patience = 5
    trunk_lr = 0.05
    head_lr = 3e-3
    seed = 21


cfg = Config()
rng = np.random.default_rng(cfg.seed)


def simulate(n):
    footfall = rng.lognormal(8.5, 1.0, n)          # passengers per day
    weekend = (rng.random(n) < 2 / 7).astype(np.float64)
    rain = rng.exponential(2.0, n)                 # mm
    event = (rng.random(n) < 0.08).astype(np.float64)  # stadium / concert day
    terminus = (rng.random(n) < 0.2).astype(np.float64)
    staffed = (rng.random(n) < 0.6).astype(np.float64)  # desk open all day
    z = np.log(footfall / 5000)
    p_any = 1 / (1 + np.exp(-(-0.8 + 1.1 * z + 0.9 * staffed + 0.6 * terminus + 0.5 * event)))
    lam = np.exp(0.2 + 0.45 * z + 0.35 * weekend + 0.12 * np.minimum(rain, 8)
                 + 0.7 * event + 0.4 * terminus)
    any_item = rng.random(n) < p_any
    counts = np.zeros(n)
    for i in np.nonzero(any_item)[0]:
        c = 0
        while c == 0:
            c = rng.poisson(lam[i])
        counts[i] = c
    x = np.stack([z, weekend, np.log1p(rain), event, terminus, staffed], axis=1)
    return x.astype(np.float32), counts.astype(np.float32)


x_tr, y_tr = simulate(cfg.n_train)
x_va, y_va = simulate(cfg.n_valid)
mu_x, sd_x = x_tr.mean(0), x_tr.std(0)
X_tr = mx.array((x_tr - mu_x) / sd_x)
X_va = mx.array((x_va - mu_x) / sd_x)
Y_tr, Y_va = mx.array(y_tr), mx.array(y_va)
# log(y!) does not depend on the parameters; keep it so the NLL is a real NLL
LF_tr = mx.array(np.array([math.lgamma(v + 1) for v in y_tr], dtype=np.float32))
LF_va = mx.array(np.array([math.lgamma(v + 1) for v in y_va], dtype=np.float32))


class HurdleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.gate = nn.Linear(48, 1)
        self.rate = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.gate(h).squeeze(-1), self.rate(h).squeeze(-1)


def hurdle_nll(model, x, y, log_fact):
    gate_logit, log_lam = model(x)
    lam = mx.exp(log_lam)
    positive = y > 0
    # zero part: log P(0) = log(1 - sigmoid(g)) ; positive: log sigmoid(g) + ZTP
    log_p0 = -nn.softplus(gate_logit)
    log_p1 = -nn.softplus(-gate_logit)
    ztp = y * log_lam - lam - log_fact - mx.log(-mx.expm1(-lam))
    ll = mx.where(positive, log_p1 + ztp, log_p0)
    return -mx.mean(ll)


def expected_count(model, x):
    gate_logit, log_lam = model(x)
    lam = mx.exp(log_lam)
    return mx.sigmoid(gate_logit) * lam / (-mx.expm1(-lam))


def poisson_deviance(y, m):
    t = mx.where(y > 0, y * mx.log(mx.maximum(y, 1e-9) / m), 0.0)
    return 2 * mx.mean(t - (y - m))


mx.random.seed(cfg.seed)
model = HurdleNet()
mx.eval(model.parameters())

steps_per_epoch = cfg.n_train // cfg.batch
trunk_opt = optim.SGD(learning_rate=optim.step_decay(cfg.trunk_lr, 0.5, 10 * steps_per_epoch),
                      momentum=0.9)
head_opt = optim.Adam(learning_rate=cfg.head_lr)
loss_and_grad = nn.value_and_grad(model, hurdle_nll)

null_dev = poisson_deviance(Y_va, mx.full(Y_va.shape, float(y_tr.mean()))).item()
history = []
best_dev, best_epoch, bad = float("inf"), 0, 0
best_weights = None
first_grads = None
t0 = time.perf_counter()
untrained_nll = hurdle_nll(model, X_va, Y_va, LF_va).item()
untrained_dev = poisson_deviance(Y_va, expected_count(model, X_va)).item()

for epoch in range(1, cfg.max_epochs + 1):
    order = mx.array(rng.permutation(cfg.n_train))
    tot, n_b = 0.0, 0
    for b in range(steps_per_epoch):
        idx = order[b * cfg.batch:(b + 1) * cfg.batch]
        loss, grads = loss_and_grad(model, X_tr[idx], Y_tr[idx], LF_tr[idx])
        if first_grads is None:
            first_grads = [(k, float(mx.max(mx.abs(g)))) for k, g in tree_flatten(grads)]
        trunk_opt.update(model.trunk, grads["trunk"])
        head_opt.update(model, {"gate": grads["gate"], "rate": grads["rate"]})
        mx.eval(model.parameters(), trunk_opt.state, head_opt.state, loss)
        tot += loss.item()
        n_b += 1
    val_nll = hurdle_nll(model, X_va, Y_va, LF_va).item()
    dev = poisson_deviance(Y_va, expected_count(model, X_va)).item()
    improved = dev < best_dev
    if improved:
        best_dev, best_epoch, bad = dev, epoch, 0
        best_weights = tree_flatten(model.parameters())   # arrays are immutable
    else:
        bad += 1
    history.append((epoch, float(trunk_opt.learning_rate), tot / n_b, val_nll,
                    100 * (1 - dev / null_dev), "*" if improved else "",
                    time.perf_counter() - t0))
    if bad >= cfg.patience:
        break

stopped_at = history[-1][0]
model.load_weights(best_weights)
mx.eval(model.parameters())
final_dev = poisson_deviance(Y_va, expected_count(model, X_va)).item()
final_nll = hurdle_nll(model, X_va, Y_va, LF_va).item()

print("lost-property hurdle model  (train %d / valid %d station-days, %.0f%% zero days)"
      % (cfg.n_train, cfg.n_valid, 100 * float((y_tr == 0).mean())))
zero = [k for k, m in first_grads if m == 0.0]
print("first step: %d gradient leaves, zero: %s" % (len(first_grads), zero or "none"))
print("untrained: valid nll %.4f, deviance explained %.2f%% (predict-the-mean = 0%%)"
      % (untrained_nll, 100 * (1 - untrained_dev / null_dev)))
print()
print("%5s  %9s  %10s  %10s  %12s  %6s" % ("epoch", "trunk_lr", "train_nll", "valid_nll",
                                              "dev_expl_%", "secs"))
for ep, lr, tr, va, de, mark, s in history:
    print("%5d  %9.4f  %10.4f  %10.4f  %11.2f%s  %6.1f" % (ep, lr, tr, va, de, mark or " ", s))
print()
print("early stop after epoch %d; restored epoch %d weights: valid nll %.4f, deviance explained %.2f%%"
      % (stopped_at, best_epoch, final_nll, 100 * (1 - final_dev / null_dev)))
