# Hot spring monitoring: forecast tomorrow's vent-pool temperature (deg C) from
# 7 readings (today's temp, air temp, rain mm, snowmelt index, flow L/s, pH, tremor).
# Robust loss with a hand-written VJP, compiled step, 3 seeds (epoch counter restarts),
# early stopping on validation MAE with restore of the best weights. Table output.
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(11)
N = 5000
t_today = rng.normal(62, 6, N)
air = rng.normal(8, 7, N)
rain = rng.gamma(1.2, 4, N)
melt = rng.uniform(0, 1, N)
flow = rng.lognormal(1.5, 0.4, N)
ph = rng.normal(7.8, 0.5, N)
tremor = rng.exponential(1, N)
target = (t_today + 0.12 * (air - 8) - 0.35 * np.sqrt(rain) - 2.5 * melt + 1.1 * np.log(flow)
          + 0.8 * tremor - 0.6 * (ph - 7.8) ** 2 + rng.standard_t(3, N) * 0.7)
X = np.stack([t_today, air, rain, melt, flow, ph, tremor], 1)
mu, sd = X[:4000].mean(0), X[:4000].std(0)
X = ((X - mu) / sd).astype(np.float32)
delta = (target - t_today).astype(np.float32)  # predict change from today
Xtr, ytr, Xva, yva = X[:4000], delta[:4000], X[4000:], delta[4000:]
persist_mae = float(np.abs(yva).mean())  # "tomorrow = today" reference


@mx.custom_function
def huber(r):
    a = mx.abs(r)
    return mx.where(a < 1.0, 0.5 * r * r, a - 0.5)


@huber.vjp
def huber_vjp(primals, cotangent, output):
    r = primals
    return cotangent * mx.clip(r, -1.0, 1.0)


class VentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(7, 48)
        self.b = nn.Linear(48, 48)
        self.c = nn.Linear(48, 1)

    def __call__(self, x):
        return self.c(nn.silu(self.b(nn.silu(self.a(x))))).squeeze(-1)


def run(seed):
    mx.random.seed(seed)
    model = VentNet()
    opt = optim.RMSprop(learning_rate=3e-3)
    mx.eval(model.parameters())
    opt.init(model.trainable_parameters())

    def loss_fn(xb, yb):
        return huber(model(xb) - yb).mean()

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, g = nn.value_and_grad(model, loss_fn)(xb, yb)
        opt.update(model, g)
        return loss

    best, best_w, best_ep, wait = 1e9, None, -1, 0
    mae0 = mx.abs(model(mx.array(Xva)) - mx.array(yva)).mean().item()
    print(f"| {seed:>4} | {0:>3} | {'-':>8} | {mae0:7.3f} C | {persist_mae:7.3f} C |")
    r = np.random.default_rng(seed)
    for ep in range(1, 61):
        perm = r.permutation(4000)
        s = 0.0
        for i in range(0, 4000, 125):
            idx = perm[i:i + 125]
            loss = step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
            mx.eval(loss, model.parameters(), opt.state)
            s += loss.item()
        mae = mx.abs(model(mx.array(Xva)) - mx.array(yva)).mean().item()
        if ep == 1 or ep % 5 == 0:
            print(f"| {seed:>4} | {ep:>3} | {s / 32:8.4f} | {mae:7.3f} C | {persist_mae:7.3f} C |")
        if mae < best - 1e-3:
            best, best_ep, wait = mae, ep, 0
            best_w = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            wait += 1
            if wait >= 8:
                print(f"| {seed:>4} | stop at {ep}, restoring epoch {best_ep} |")
                break
    model.update(best_w)
    mx.eval(model.parameters())
    final = mx.abs(model(mx.array(Xva)) - mx.array(yva)).mean().item()
    return final, best_ep


print("| seed | ep  |  huber   | val MAE   | persist   |")
print("|------|-----|----------|-----------|-----------|")
res = [run(s) for s in (0, 1, 2)]
for s, (m, e) in zip((0, 1, 2), res):
    print(f"seed {s}: restored epoch {e}, val MAE {m:.3f} C (persistence {persist_mae:.3f} C)")
print(f"mean val MAE over seeds {np.mean([m for m, _ in res]):.3f} C")
