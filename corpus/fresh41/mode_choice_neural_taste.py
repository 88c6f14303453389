# Travel-mode choice (car / bus / bike) with a conditional-logit model whose
# cost and time sensitivities depend on the traveller through a small MLP.
# Alternative-specific constants: car is the reference (fixed 0), bus and
# bike constants are free.  Trained on shuffled minibatches with Adamax and a
# hand-rolled "halve lr when validation NLL stalls" rule; one logfmt line
# per epoch.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)
N, J = 3000, 3

# traveller features: standardised log-income, age
z = rng.normal(size=(N, 2)).astype(np.float32)
# alternative attributes: cost (EUR) and travel time (hours)
cost = np.stack([rng.uniform(3, 9, N), rng.uniform(1, 3, N), np.zeros(N)], 1).astype(np.float32)
ttime = np.stack([rng.uniform(0.2, 0.6, N), rng.uniform(0.4, 1.2, N), rng.uniform(0.5, 1.5, N)], 1).astype(np.float32)
# true tastes: richer people care less about cost, older people dislike time more
b_cost = -0.45 * np.exp(-0.5 * z[:, 0])
b_time = -2.2 - 0.8 * np.tanh(z[:, 1])
asc = np.array([0.0, -0.3, -0.9])
util = asc + b_cost[:, None] * cost + b_time[:, None] * ttime
gumbel = -np.log(-np.log(rng.uniform(size=(N, J))))
choice = np.argmax(util + gumbel, 1).astype(np.int32)

split = 2400
Z, C, T, Y = map(mx.array, (z, cost, ttime, choice))
tr = slice(0, split)
va = slice(split, N)


class TasteLogit(nn.Module):
    def __init__(self):
        super().__init__()
        self.taste = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
        self.asc_free = mx.zeros((J - 1,))  # bus, bike (car fixed at 0)

    def __call__(self, z, cost, ttime):
        t = self.taste(z)
        bc = -nn.softplus(t[:, :1])          # cost coefficient < 0
        bt = -nn.softplus(t[:, 1:])          # time coefficient < 0
        asc = mx.concatenate([mx.zeros((1,)), self.asc_free])
        return asc + bc * cost + bt * ttime, bc, bt


def nll(model, z, c, t, y):
    u, _, _ = model(z, c, t)
    return nn.losses.cross_entropy(u, y, reduction="mean")


model = TasteLogit()
opt = optim.Adamax(learning_rate=0.02)
step_fn = nn.value_and_grad(model, nll)

# every leaf must receive gradient on the first batch
_, g0 = step_fn(model, Z[:64], C[:64], T[:64], Y[:64])
for k, v in tree_flatten(g0):
    assert mx.abs(v).max().item() > 0, k

best_va, stall = math.inf, 0
t0 = time.time()
for epoch in range(1, 121):
    perm = mx.array(rng.permutation(split))
    tot, nb = 0.0, 0
    for i in range(0, split, 64):
        idx = perm[i:i + 64]
        loss, grads = step_fn(model, Z[idx], C[idx], T[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot, nb = tot + loss.item(), nb + 1
    va_nll = nll(model, Z[va], C[va], T[va], Y[va]).item()
    u, bc, bt = model(Z[va], C[va], T[va])
    hit = (mx.argmax(u, 1) == Y[va]).mean().item()
    vot = (bt / bc).mean().item()  # value of time, EUR per hour
    if va_nll < best_va - 1e-4:
        best_va, stall = va_nll, 0
    else:
        stall += 1
        if stall >= 3:
            opt.learning_rate = mx.maximum(opt.learning_rate * 0.5, 2e-4)
            stall = 0
    print(f"ts={time.time() - t0:.2f} epoch={epoch} train_nll={tot / nb:.4f} val_nll={va_nll:.4f} "
          f"val_hit={hit:.3f} vot_eur_h={vot:.2f} lr={opt.learning_rate.item():.5f} "
          f"asc_bus={model.asc_free[0].item():+.3f} asc_bike={model.asc_free[1].item():+.3f}")

true_vot = float(np.mean(b_time[split:] / b_cost[split:]))
prior_nll = -np.mean(np.log(np.bincount(choice[:split], minlength=J)[choice[split:]] / split))
print(f"level=info msg=done true_vot_eur_h={true_vot:.2f} best_val_nll={best_va:.4f} "
      f"marginal_share_nll={prior_nll:.4f}")
