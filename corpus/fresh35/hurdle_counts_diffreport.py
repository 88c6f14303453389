# Hurdle Poisson regression: a logistic "any events?" gate plus a zero-truncated
# Poisson for the positive counts, both heads on a shared tanh trunk. RMSprop,
# shuffled minibatches. Each report is printed as a unified-diff of the metric
# block against the previous report ('-' old line, '+' new line, ' ' unchanged).
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.RandomState(7)
N, D = 6000, 6
X = rs.normal(size=(N, D)).astype(np.float32)
p_pos = 1 / (1 + np.exp(-(0.8 * X[:, 0] - 0.6 * X[:, 1] - 0.3)))
lam = np.exp(0.9 + 0.5 * X[:, 2] - 0.4 * X[:, 3] * X[:, 0])
def ztp(l):                                   # zero-truncated Poisson sampler
    out = np.zeros_like(l)
    for i, li in enumerate(l):
        k = 0
        while k == 0:
            k = rs.poisson(li)
        out[i] = k
    return out
Y = np.where(rs.rand(N) < p_pos, ztp(lam), 0).astype(np.float32)
Xtr, Ytr, Xva, Yva = map(mx.array, (X[:5000], Y[:5000], X[5000:], Y[5000:]))
lgam_va = mx.array([math.lgamma(v + 1) for v in Y[5000:]])

class Hurdle(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.gate = nn.Linear(48, 1)
        self.rate = nn.Linear(48, 1)
    def __call__(self, x):
        h = self.trunk(x)
        return self.gate(h)[:, 0], self.rate(h)[:, 0]

def nll(model, x, y, lg=None):
    g, log_lam = model(x)
    lam = mx.exp(log_lam)
    log_p0 = -nn.softplus(g)                  # log P(y = 0)
    log_p1 = -nn.softplus(-g)                 # log P(y > 0)
    # zero-truncated Poisson log-pmf, constant lgamma(y+1) dropped for training
    log_ztp = y * log_lam - lam - mx.log(-mx.expm1(-lam))
    if lg is not None:
        log_ztp = log_ztp - lg
    return -mx.mean(mx.where(y > 0, log_p1 + log_ztp, log_p0))

model = Hurdle()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, nll)
_, g0 = vg(model, Xtr[:256], Ytr[:256])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"grad check: {len(tree_flatten(g0))} leaves, zero-gradient leaves: {dead or 'none'}")
zero_frac = float((Yva == 0).mean())
print(f"validation zero fraction {zero_frac:.3f}, mean count {float(Yva.mean()):.3f}")

opt = optim.RMSprop(learning_rate=2e-3)
prev = None
for epoch in range(1, 25):
    perm = mx.array(rs.permutation(5000))
    for i in range(0, 5000, 100):
        idx = perm[i:i + 100]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
    if epoch in (1, 2, 4) or epoch % 4 == 0:
        g, log_lam = model(Xva)
        lam = mx.exp(log_lam)
        pz = mx.sigmoid(-g)
        mean_pred = (1 - pz) * lam / (-mx.expm1(-lam))
        block = [
            f"val_nll_full   = {nll(model, Xva, Yva, lgam_va).item():.4f}",
            f"pred_zero_frac = {float(pz.mean()):.3f}  (obs {zero_frac:.3f})",
            f"mean_count     = {float(mean_pred.mean()):.3f}  (obs {float(Yva.mean()):.3f})",
            f"count_mae      = {float(mx.abs(mean_pred - Yva).mean()):.3f}",
            f"last_batch_nll = {loss.item():.4f}",
        ]
        print(f"--- report@{'init' if prev is None else prev[0]}\n+++ report@epoch{epoch}")
        old = prev[1] if prev else [""] * len(block)
        for o, n in zip(old, block):
            if o == n:
                print(" " + n)
            else:
                if o:
                    print("-" + o)
                print("+" + n)
        prev = (f"epoch{epoch}", block)
