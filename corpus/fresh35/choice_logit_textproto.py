# Discrete-choice (conditional / multinomial logit) model: each trip chooses one of
# 4 travel modes. Utility = linear taste coefficients on cost and time (shared across
# modes) + alternative-specific constants + a small MLP on the traveller's income
# that shifts the preference for each mode. Fitted with Adam on shuffled mini-batches.
# Progress is logged in protobuf text format, one `report { ... }` message per eval.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
mx.random.seed(5)
N, J = 8000, 4
cost = rng.gamma(2.0, 2.0, (N, J)).astype(np.float32)          # dollars
ttime = rng.gamma(3.0, 10.0, (N, J)).astype(np.float32) / 60.0 # hours
income = rng.lognormal(0.0, 0.5, (N, 1)).astype(np.float32)
TRUE_BETA_COST, TRUE_BETA_TIME = -0.45, -1.6
asc = np.array([0.0, 0.4, -0.3, 0.8], np.float32)
inc_effect = np.array([0.0, 0.6, -0.8, 0.3], np.float32)
U = (TRUE_BETA_COST * cost + TRUE_BETA_TIME * ttime + asc
     + inc_effect * np.log(income) + rng.gumbel(size=(N, J)).astype(np.float32))
choice = U.argmax(1).astype(np.int32)

X = np.stack([cost, ttime], -1)          # (N, J, 2)
tr, va = np.arange(0, 6400), np.arange(6400, N)
Xa, Ia, Ya = mx.array(X), mx.array(np.log(income)), mx.array(choice)


class ConditionalLogit(nn.Module):
    def __init__(self):
        super().__init__()
        self.taste = nn.Linear(2, 1, bias=False)        # beta_cost, beta_time
        self.shift = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, J))

    def __call__(self, x, inc):
        return self.taste(x)[..., 0] + self.shift(inc)


def loss_fn(m, x, inc, y):
    return nn.losses.cross_entropy(m(x, inc), y, reduction="mean")


model = ConditionalLogit()
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)

_, g = vg(model, Xa[:512], Ia[:512], Ya[:512])
print("# grad_leaves { " + " ".join(f'{k}: {float(mx.abs(v).max()):.2e}' for k, v in tree_flatten(g)) + " }")
# NLL of a model that knows the true utilities (irreducible Gumbel noise)
Utrue = TRUE_BETA_COST * cost + TRUE_BETA_TIME * ttime + asc + inc_effect * np.log(income)
Utrue = Utrue[va]
lse = np.log(np.exp(Utrue - Utrue.max(1, keepdims=True)).sum(1)) + Utrue.max(1)
print(f"# oracle_val_nll: {np.mean(lse - Utrue[np.arange(len(va)), choice[va]]):.4f}  chance: {np.log(J):.4f}")

t0 = time.time()
step = 0
for epoch in range(1, 41):
    for k in range(0, len(tr), 128):
        idx = mx.array(tr[rng.integers(0, len(tr), 128)])  # sample with replacement
        l, g = vg(model, Xa[idx], Ia[idx], Ya[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        step += 1
    if epoch in (1, 2, 5) or epoch % 5 == 0:
        vi = mx.array(va)
        logits = model(Xa[vi], Ia[vi])
        vnll = nn.losses.cross_entropy(logits, Ya[vi], reduction="mean").item()
        acc = (logits.argmax(1) == Ya[vi]).mean().item()
        w = np.array(model.taste.weight)[0]
        vot = w[1] / w[0]  # value of time, $/hour
        print("report {")
        print(f"  epoch: {epoch}")
        print(f"  step: {step}")
        print(f"  last_batch_nll: {l.item():.4f}")
        print(f"  val_nll: {vnll:.4f}")
        print(f"  val_top1: {acc:.4f}")
        print(f"  beta {{ cost: {w[0]:.3f} time: {w[1]:.3f} }}")
        print(f"  value_of_time_usd_per_h: {vot:.2f}  # true {TRUE_BETA_TIME / TRUE_BETA_COST:.2f}")
        print(f"  wall_s: {time.time() - t0:.1f}")
        print("}")
