"""Bicycle-chain wear: how long until a chain hits 0.75% elongation?

Deep Cox proportional-hazards model on our fleet log (synthetic stand-in here).
Chains replaced for other reasons are right-censored.  The brand spec sheet
(hardness, plating, pin type, roller type) is a fixed lookup table held in an
nn.Embedding that we do NOT train.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

T0 = time.time()


def logfmt(msg, **kv):
    parts = [f"t={time.time() - T0:.2f}s", f"msg={msg}"]
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        elif isinstance(v, (list, tuple)):
            v = '"' + ",".join(str(x) for x in v) + '"'
        parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


# ---------------------------------------------------------------- data
BRAND_SPEC = np.array([  # hardness(z), plated, hollow pin, solid roller
    [0.9, 1, 0, 1], [0.2, 0, 0, 1], [-0.4, 0, 1, 0], [1.3, 1, 1, 1],
    [-1.1, 0, 0, 0], [0.5, 1, 0, 0], [-0.2, 0, 1, 1], [0.0, 1, 1, 0],
], dtype=np.float32)


def make_fleet(n, rng):
    x = rng.normal(size=(n, 6)).astype(np.float32)
    # rider kg, km between lubes, share of wet rides, cadence, cross-chaining, cleanings/month
    brand = rng.integers(0, 8, size=n)
    spec = BRAND_SPEC[brand]
    h = (0.6 * x[:, 0] + 0.8 * np.tanh(1.5 * x[:, 1]) + 0.5 * x[:, 2] * (1 + 0.5 * x[:, 4])
         - 0.3 * x[:, 3] ** 2 - 0.7 * x[:, 5] + 0.4 * x[:, 4]
         - 0.6 * spec[:, 0] - 0.3 * spec[:, 1] + 0.25 * spec[:, 2] * x[:, 2])
    t_event = rng.exponential(1.0 / (0.0004 * np.exp(h)))          # km
    t_cens = rng.uniform(500, 9000, size=n)                          # swapped early
    km = np.minimum(t_event, t_cens).astype(np.float32)
    event = (t_event <= t_cens).astype(np.float32)
    return x, brand.astype(np.int32), km, event, h


def c_index(km, event, risk):
    """Harrell's concordance: share of comparable pairs ordered correctly."""
    i = np.where(event > 0)[0]
    earlier = km[i][:, None] < km[None, :]                 # i failed before j was seen
    conc = (risk[i][:, None] > risk[None, :]) & earlier
    ties = (risk[i][:, None] == risk[None, :]) & earlier
    return float((conc.sum() + 0.5 * ties.sum()) / earlier.sum())


rng = np.random.default_rng(91)
xtr, btr, ktr, etr, _ = make_fleet(6000, rng)
xte, bte, kte, ete, hte = make_fleet(2000, rng)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
logfmt("data", train=len(xtr), test=len(xte), censored_pct=float(100 * (1 - etr.mean())),
       oracle_c_index_test=c_index(kte, ete, hte))


# ---------------------------------------------------------------- model
class ChainRisk(nn.Module):
    def __init__(self):
        super().__init__()
        self.brand = nn.Embedding(8, 4)
        self.brand.weight = mx.array(BRAND_SPEC)
        self.l1 = nn.Linear(10, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1, bias=False)   # Cox likelihood is shift invariant

    def __call__(self, x, b):
        z = mx.concatenate([x, self.brand(b)], axis=1)
        z = nn.silu(self.l1(z))
        z = nn.silu(self.l2(z))
        return self.out(z).squeeze(-1)


def cox_nll(model, x, b, km, event):
    order = mx.argsort(-km)                        # longest-surviving first
    eta = model(x[order], b[order])
    ev = event[order]
    log_risk = mx.logcumsumexp(eta)                # log sum over {j: km_j >= km_i}
    return -mx.sum(ev * (eta - log_risk)) / mx.maximum(ev.sum(), 1.0)


mx.random.seed(7)
model = ChainRisk()
model.brand.freeze()
spec_before = np.array(model.brand.weight)
loss_and_grad = nn.value_and_grad(model, cox_nll)

# hand-written Nesterov SGD; lr warm-up from exactly 0
PEAK_LR, WARM, MOM, BATCH, EPOCHS = 0.03, 120, 0.9, 500, 40
velocity = tree_map(mx.zeros_like, model.trainable_parameters())


def lr_at(step):
    return PEAK_LR * min(step / WARM, 1.0)


Xtr, Btr, Ktr, Etr = mx.array(xtr), mx.array(btr), mx.array(ktr), mx.array(etr)
Xte, Bte = mx.array(xte), mx.array(bte)

step = 0
steps_per_epoch = len(xtr) // BATCH
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(len(xtr))
    tot, n = 0.0, 0
    for k in range(steps_per_epoch):
        idx = mx.array(perm[k * BATCH:(k + 1) * BATCH])
        loss, grads = loss_and_grad(model, Xtr[idx], Btr[idx], Ktr[idx], Etr[idx])
        if step == 0:
            flat = tree_flatten(grads)
            zero = [p for p, g in flat if float(mx.abs(g).max()) == 0.0]
            logfmt("grad_check", leaves=len(flat), zero_leaves=zero or "none",
                   frozen="brand.weight")
        lr = lr_at(step)
        velocity = tree_map(lambda v, g: MOM * v + g, velocity, grads)
        upd = tree_map(lambda v, g: g + MOM * v, velocity, grads)       # Nesterov look-ahead
        new_params = tree_map(lambda p, u: p - lr * u, model.trainable_parameters(), upd)
        model.update(new_params)
        mx.eval(model.parameters(), velocity, loss)
        tot += loss.item()
        n += 1
        step += 1
    risk = np.array(model(Xte, Bte))
    logfmt("epoch", epoch=epoch, step=step, next_lr=lr_at(step), train_nll_per_event=tot / n,
           test_c_index=c_index(kte, ete, risk))

drift = float(np.abs(np.array(model.brand.weight) - spec_before).max())
logfmt("done", frozen_spec_max_change=drift, note="c_index: 0.5 is chance, 1.0 perfect ranking")
