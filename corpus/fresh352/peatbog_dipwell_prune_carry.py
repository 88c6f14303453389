"""Peatland hydrology: water-table depth (cm below surface) at a dipwell,
regressed from six synthetic site readings.

A wide GELU MLP is trained with AdamW; half-way through, the narrowest-norm
hidden units of both hidden layers are removed (structured pruning) and the
SAME optimizer keeps going: its first/second-moment buffers are sliced to the
surviving units so the Adam statistics carry over, and the step counter (and
with it the lr schedule) continues.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SEED = 352
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ------------------------------------------------------------------ data
N_TRAIN, N_VALID = 9000, 2000
FEATS = ["rain_7d_mm", "evap_mm", "drain_dist_m", "sphagnum_pct", "slope_deg", "grazing"]


def make_sites(n):
    rain = rng.gamma(2.0, 12.0, n)
    evap = rng.uniform(0.5, 5.0, n)
    drain = rng.uniform(5, 400, n)
    sph = rng.uniform(0, 100, n)
    slope = rng.uniform(0, 8, n)
    graze = rng.integers(0, 2, n).astype(np.float64)
    depth = (
        38.0
        - 9.0 * np.log1p(rain / 10.0)
        + 3.2 * evap
        + 14.0 * np.exp(-drain / 60.0)
        - 0.12 * sph
        + 1.4 * slope ** 1.3
        + 4.0 * graze * (1.0 - sph / 100.0)
        + rng.normal(0, 1.5, n)
    )
    x = np.stack([rain, evap, drain, sph, slope, graze], 1)
    return x.astype(np.float32), depth.astype(np.float32)


xtr, ytr = make_sites(N_TRAIN)
xva, yva = make_sites(N_VALID)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr = mx.array((xtr - mu) / sd)
Xva = mx.array((xva - mu) / sd)
Ytr = mx.array((ytr - ymu) / ysd)
Yva = mx.array(yva)


class DipwellNet(nn.Module):
    def __init__(self, d_in, h1, h2):
        super().__init__()
        self.l1 = nn.Linear(d_in, h1)
        self.l2 = nn.Linear(h1, h2)
        self.out = nn.Linear(h2, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def valid_mae_cm(model):
    pred = model(Xva) * ysd + ymu
    return mx.mean(mx.abs(pred - Yva)).item()


def n_params(model):
    return sum(v.size for _, v in tree_flatten(model.parameters()))


# ------------------------------------------------------------------ surgery
def prune_hidden(model, opt, keep1, keep2):
    """Build a narrower net holding the kept units and slice the AdamW
    moments the same way. Returns the new model."""
    k1 = mx.array(keep1)
    k2 = mx.array(keep2)

    def cut(tree):
        return {
            "l1": {"weight": tree["l1"]["weight"][k1], "bias": tree["l1"]["bias"][k1]},
            "l2": {"weight": tree["l2"]["weight"][k2][:, k1], "bias": tree["l2"]["bias"][k2]},
            "out": {"weight": tree["out"]["weight"][:, k2], "bias": tree["out"]["bias"]},
        }

    small = DipwellNet(len(FEATS), len(keep1), len(keep2))
    small.update(cut(model.parameters()))

    st = opt.state
    new_state = {k: v for k, v in st.items() if k not in ("l1", "l2", "out")}
    for key in ("m", "v"):
        sliced = cut({name: {p: st[name][p][key] for p in ("weight", "bias")}
                      for name in ("l1", "l2", "out")})
        for name in ("l1", "l2", "out"):
            new_state.setdefault(name, {})
            for p in ("weight", "bias"):
                new_state[name].setdefault(p, {})[key] = sliced[name][p]
    opt.state = new_state
    mx.eval(small.parameters(), opt.state)
    return small


def unit_scores(model):
    w1 = model.l1.weight
    w2 = model.l2.weight
    s1 = mx.sqrt(mx.sum(w1 * w1, axis=1)) * mx.sqrt(mx.sum(w2 * w2, axis=0))
    s2 = mx.sqrt(mx.sum(w2 * w2, axis=1)) * mx.abs(model.out.weight[0])
    return np.array(s1), np.array(s2)


# ------------------------------------------------------------------ training
TOTAL, WARM, PRUNE_AT, BATCH = 2400, 200, 1200, 128
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 5e-5)],
    [WARM],
)
model = DipwellNet(len(FEATS), 128, 128)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
mx.eval(model.parameters())

print("=== peat dipwell water-table model ===")
print(f"sites: train {N_TRAIN}  valid {N_VALID}  features {', '.join(FEATS)}")
mean_guess = float(np.mean(np.abs(yva - ymu)))
print(f"baseline: predict-the-mean valid MAE {mean_guess:.2f} cm; sensor noise sd 1.50 cm "
      f"(MAE floor about {1.5 * 0.798:.2f} cm)")
print(f"untrained valid MAE {valid_mae_cm(model):.2f} cm, params {n_params(model)}")

lg = nn.value_and_grad(model, loss_fn)
perm = rng.permutation(N_TRAIN)
cursor = 0
ema, beta = 0.0, 0.98
t0 = time.time()
for step in range(1, TOTAL + 1):
    if cursor + BATCH > N_TRAIN:
        perm = rng.permutation(N_TRAIN)
        cursor = 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH
    lr_now = float(sched(opt.step).item())
    loss, grads = lg(model, Xtr[idx], Ytr[idx])
    if step == 1:
        leaves = tree_flatten(grads)
        zero = [k for k, g in leaves if float(mx.abs(g).max().item()) == 0.0]
        print(f"step 1: lr used {lr_now:.1e} (warm-up starts at zero), grad leaves {len(leaves)}, "
              f"all-zero leaves {zero if zero else 'none'}")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = beta * ema + (1 - beta) * loss.item()
    ema_hat = ema / (1 - beta ** step)
    if step % 200 == 0 or step == PRUNE_AT + 20 or step == PRUNE_AT + 60:
        print(f"step {step:5d}  lr {lr_now:.2e}  train_mse_ema(std^2) {ema_hat:.4f}  "
              f"valid_mae {valid_mae_cm(model):.2f} cm  width {model.l1.weight.shape[0]}x"
              f"{model.l2.weight.shape[0]}  {time.time() - t0:.1f}s")
    if step == PRUNE_AT:
        s1, s2 = unit_scores(model)
        keep1 = sorted(np.argsort(-s1)[:48].tolist())
        keep2 = sorted(np.argsort(-s2)[:48].tolist())
        before = valid_mae_cm(model)
        before_p = n_params(model)
        model = prune_hidden(model, opt, keep1, keep2)
        lg = nn.value_and_grad(model, loss_fn)
        m_ok = tuple(opt.state["l2"]["weight"]["m"].shape) == tuple(model.l2.weight.shape)
        print(f"--- pruning at step {step}: hidden 128x128 -> 48x48, params {before_p} -> "
              f"{n_params(model)}; valid MAE {before:.2f} -> {valid_mae_cm(model):.2f} cm "
              f"(expected to rise, then recover); moments sliced {m_ok}; optimizer step kept "
              f"at {int(opt.step.item())}")

final = valid_mae_cm(model)
print(f"done: valid MAE {final:.2f} cm vs predict-the-mean {mean_guess:.2f} cm, "
      f"params {n_params(model)}, {time.time() - t0:.1f}s")
