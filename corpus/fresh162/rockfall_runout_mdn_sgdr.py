# rockfall survey: runout distance (m) of released blocks below a cliff band.
# Blocks either stop in the talus cone or bounce through and run out to the
# valley road, so the conditional distribution is two-humped -> a 3-component
# mixture density network.  Compiled train step, SGDR warm restarts, JSON lines.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(77)
K = 3


def simulate(n, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    x = mx.random.normal((n, 5), key=k1)  # slope_deg, log_mass, roughness, tree_density, wetness
    slope, mass, rough, trees, wet = [x[:, i] for i in range(5)]
    p_road = mx.sigmoid(1.4 * slope + 0.9 * mass - 1.1 * trees - 0.6 * rough + 0.3 * wet * slope)
    on_road = mx.random.uniform(shape=(n,), key=k2) < p_road
    talus = 35 + 6 * slope + 4 * mass - 3 * rough + 3.0 * mx.random.normal((n,), key=k3)
    road = 125 + 10 * mass - 6 * trees + 9.0 * mx.random.normal((n,), key=k4)
    y = mx.where(on_road, road, talus)
    return x, y


xtr, ytr = simulate(12000, mx.random.key(1))
xva, yva = simulate(2000, mx.random.key(2))
Y_MEAN, Y_STD = mx.mean(ytr), mx.std(ytr)
ztr, zva = (ytr - Y_MEAN) / Y_STD, (yva - Y_MEAN) / Y_STD


class RunoutMDN(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(5, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 3 * K)

    def __call__(self, x):
        h = mx.tanh(self.l2(mx.tanh(self.l1(x))))
        o = self.head(h)
        logit, mu, log_sig = o[:, :K], o[:, K:2 * K], o[:, 2 * K:]
        return logit, mu, mx.clip(log_sig, -6.0, 3.0)


def mix_logpdf(model, x, z):
    logit, mu, log_sig = model(x)
    logw = logit - mx.logsumexp(logit, axis=1, keepdims=True)
    comp = -0.5 * ((z[:, None] - mu) / mx.exp(log_sig)) ** 2 - log_sig - 0.5 * math.log(2 * math.pi)
    return mx.logsumexp(logw + comp, axis=1)


def nll(model, x, z):
    return -mx.mean(mix_logpdf(model, x, z))


def interval_cover(model, x, z, level=0.8, n_draw=400):
    # Monte-Carlo central interval from the mixture, coverage in percent
    logit, mu, log_sig = model(x)
    n = x.shape[0]
    comp = mx.random.categorical(logit, num_samples=n_draw)  # (n, n_draw)
    m = mx.take_along_axis(mu, comp, axis=1)
    s = mx.exp(mx.take_along_axis(log_sig, comp, axis=1))
    draws = mx.sort(m + s * mx.random.normal((n, n_draw)), axis=1)
    lo = draws[:, int(n_draw * (1 - level) / 2)]
    hi = draws[:, int(n_draw * (1 + level) / 2) - 1]
    return 100.0 * mx.mean((z >= lo) & (z <= hi)).item()


model = RunoutMDN()
mx.eval(model.parameters())

BS = 128
steps_per_ep = xtr.shape[0] // BS
cycles = [2, 4, 8]  # epochs per warm-restart cycle
sched = optim.join_schedules(
    [optim.cosine_decay(4e-3, c * steps_per_ep, 2e-5) for c in cycles],
    [sum(cycles[:i + 1]) * steps_per_ep for i in range(len(cycles) - 1)])
opt = optim.Adam(learning_rate=sched, betas=[0.9, 0.99])
state = [model.state, opt.state]


@mx.compile
def baseline_nll(z):
    # a single Gaussian fitted to all runouts, ignoring the features
    mu, sd = mx.mean(z), mx.std(z)
    return mx.mean(0.5 * ((z - mu) / sd) ** 2 + mx.log(sd) + 0.5 * math.log(2 * math.pi))


@mx.compile
def _step(x, z):
    loss, g = nn.value_and_grad(model, nll)(model, x, z)
    opt.update(model, g)
    return loss


step = mx.compile(_step, inputs=state, outputs=state)

# check that each parameter gets a gradient before we start
_, g0 = nn.value_and_grad(model, nll)(model, xtr[:512], ztr[:512])
from mlx.utils import tree_flatten
gn = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_check", "min_norm": round(min(gn.values()), 6), "n_tensors": len(gn)}))
base = baseline_nll(zva).item()

t0 = time.perf_counter()
for c, n_ep in enumerate(cycles):
    for ep in range(n_ep):  # epoch counter restarts every cycle
        perm = mx.random.permutation(xtr.shape[0])
        run = 0.0
        for b in range(steps_per_ep):
            idx = perm[b * BS:(b + 1) * BS]
            loss = step(xtr[idx], ztr[idx])
            mx.eval(state, loss)
            run += loss.item()
        rec = {
            "cycle": c, "ep": ep, "lr": round(float(opt.learning_rate), 6),
            "nll": round(run / steps_per_ep, 4),
            "val_nll": round(nll(model, xva, zva).item(), 4),
            "single_gauss_nll": round(base, 4),
            "cover80_pct": round(interval_cover(model, xva, zva), 1),
        }
        print(json.dumps(rec))

logit, mu, log_sig = model(xva)
w = mx.softmax(logit, axis=1)
mean_pred = mx.sum(w * mu, axis=1) * Y_STD + Y_MEAN
mae = mx.mean(mx.abs(mean_pred - yva)).item()
print(json.dumps({"event": "done", "wall_s": round(time.perf_counter() - t0, 2),
                  "val_nll": round(nll(model, xva, zva).item(), 4),
                  "mixture_mean_mae_m": round(mae, 2),
                  "const_mae_m": round(mx.mean(mx.abs(yva - Y_MEAN)).item(), 2)}))
