"""Discrete-time survival for subscription churn: per-month hazard MLP, censored BCE."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H = 12  # months observed
rng = np.random.default_rng(7)


def simulate(n):
    x = rng.normal(size=(n, 6)).astype(np.float32)
    plan = rng.integers(0, 3, size=n)
    x[:, 5] = plan - 1.0
    months = np.arange(1, H + 1)
    base = -3.0 + 0.9 * np.exp(-months / 3.0)  # early churn bump
    logit = base[None, :] + 0.8 * x[:, :1] - 0.6 * x[:, 1:2] + 0.5 * x[:, 2:3] * x[:, 3:4] - 0.4 * x[:, 5:6]
    haz = 1.0 / (1.0 + np.exp(-logit))
    u = rng.uniform(size=haz.shape)
    event = u < haz
    t_event = np.where(event.any(1), event.argmax(1), H)  # month index of churn or H
    t_cens = rng.integers(3, H + 1, size=n)  # signed up at different dates
    churned = t_event < t_cens
    t_obs = np.where(churned, t_event, t_cens - 1)
    # at-risk mask and targets per month
    m = np.arange(H)[None, :]
    at_risk = (m <= t_obs[:, None]).astype(np.float32)
    y = ((m == t_obs[:, None]) & churned[:, None]).astype(np.float32)
    return x, at_risk, y, haz.astype(np.float32)


class Hazard(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.head = nn.Linear(48, H)

    def __call__(self, x):
        return self.head(self.body(x))


def loss_fn(model, x, r, y):
    z = model(x)
    bce = nn.losses.binary_cross_entropy(z, y, with_logits=True, reduction="none")
    return (bce * r).sum() / r.sum()


xtr, rtr, ytr, _ = simulate(30000)
xva, rva, yva, hva = simulate(2000)
Xtr, Rtr, Ytr = map(mx.array, (xtr, rtr, ytr))
Xva, Rva, Yva, Hva = map(mx.array, (xva, rva, yva, hva))

mx.random.seed(3)
model = Hazard()
mx.eval(model.parameters())
epochs, bs = 16, 100
steps = epochs * (len(xtr) // bs)
sched = optim.join_schedules([optim.linear_schedule(1e-4, 3e-3, 50), optim.cosine_decay(3e-3, steps - 50, 1e-4)], [50])
opt = optim.Adam(learning_rate=sched, bias_correction=True)
vg = nn.value_and_grad(model, loss_fn)

_, g0 = vg(model, Xtr[:bs], Rtr[:bs], Ytr[:bs])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
base_rate = float((Ytr.sum(0) / Rtr.sum(0)).mean())
print(f"kubectl get trainjob churn-hazard -w   # leaves={len(tree_flatten(g0))} zero_grad={zero} base_hazard={base_rate:.4f}")
print(f"{'NAME':<22}{'STATUS':<11}{'EPOCH':<7}{'TRAIN-NLL':<11}{'VAL-NLL':<10}{'HAZ-MAE':<10}{'S12-MAE':<10}{'LR':<10}AGE")
t0 = time.time()


def evaluate():
    z = model(Xva)
    nll = float(loss_fn(model, Xva, Rva, Yva))
    p = mx.sigmoid(z)
    mae = float(mx.abs(p - Hva).mean())
    s12 = float(mx.abs(mx.prod(1 - p, axis=1) - mx.prod(1 - Hva, axis=1)).mean())
    return nll, mae, s12


nll, mae, s12 = evaluate()
print(f"{'churn-hazard-init':<22}{'Pending':<11}{0:<7}{'-':<11}{nll:<10.4f}{mae:<10.4f}{s12:<10.4f}{'-':<10}{time.time()-t0:.0f}s")
for ep in range(1, epochs + 1):
    perm = mx.array(rng.permutation(len(xtr)))
    tot, nb = 0.0, 0
    for i in range(0, len(xtr) - bs + 1, bs):
        idx = perm[i:i + bs]
        loss, g = vg(model, Xtr[idx], Rtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    nll, mae, s12 = evaluate()
    status = "Running" if ep < epochs else "Completed"
    print(f"{'churn-hazard-e%02d' % ep:<22}{status:<11}{ep:<7}{tot/nb:<11.4f}{nll:<10.4f}{mae:<10.4f}{s12:<10.4f}{float(opt.learning_rate):<10.2e}{time.time()-t0:.0f}s")
