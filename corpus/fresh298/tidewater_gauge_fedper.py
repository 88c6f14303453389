import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(3)
STATIONS = 6
def station_data(k, n=400):
    t = rng.uniform(0, 6.28, size=(n, 1)).astype(np.float32)
    amp, off = 1.0 + 0.3 * k, 0.5 * (k - 2.5)
    noise = 0.05 + 0.02 * k
    y = amp * np.sin(t) + off + rng.normal(scale=noise, size=(n, 1))
    feats = np.concatenate([np.sin(t), np.cos(t), np.sin(2 * t), np.cos(2 * t)], 1)
    return mx.array(feats.astype(np.float32)), mx.array(y.astype(np.float32)), noise

data = [station_data(k) for k in range(STATIONS)]

class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 32)
        self.b = nn.Linear(32, 32)
    def __call__(self, x):
        return nn.silu(self.b(nn.silu(self.a(x))))

class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.mu = nn.Linear(32, 1)
        self.logvar = nn.Linear(32, 1)
    def __call__(self, h):
        return self.mu(h), mx.clip(self.logvar(h), -9.0, 3.0)

def nll(body, head, x, y):
    mu, lv = head(body(x))
    return mx.mean(0.5 * (lv + (y - mu) ** 2 / mx.exp(lv)))   # Gaussian NLL without the constant

shared = Body(); mx.eval(shared.parameters())
heads = [Head() for _ in range(STATIONS)]
for h in heads: mx.eval(h.parameters())
head_opts = [optim.Adam(learning_rate=3e-3) for _ in range(STATIONS)]

class Pair(nn.Module):
    def __init__(self, body, head):
        super().__init__(); self.body = body; self.head = head

print("floor per station (noise-limited NLL 0.5*log(s^2)+0.5):",
      " ".join(f"{0.5*np.log(d[2]**2)+0.5:.3f}" for d in data))
for rnd in range(30):
    bodies, sizes, losses = [], [], []
    for k in range(STATIONS):
        x, y, _ = data[k]
        body = Body(); body.update(tree_map(lambda a: a, shared.parameters()))
        pair = Pair(body, heads[k])
        opt_b = optim.Adam(learning_rate=3e-3)
        vg = nn.value_and_grad(pair, lambda m, xb, yb: nll(m.body, m.head, xb, yb))
        for s in range(10):
            idx = mx.array(rng.integers(0, x.shape[0], size=64))
            l, g = vg(pair, x[idx], y[idx])
            opt_b.update(pair.body, g["body"])
            head_opts[k].update(pair.head, g["head"])
            mx.eval(pair.parameters(), opt_b.state, head_opts[k].state)
        bodies.append(body.parameters()); sizes.append(x.shape[0])
        losses.append(nll(body, heads[k], x, y).item())
    tot = float(sum(sizes))
    shared.update(tree_map(lambda *ps: sum(n / tot * p for n, p in zip(sizes, ps)), *bodies))
    mx.eval(shared.parameters())
    if rnd < 3 or rnd % 9 == 8:
        evals = [nll(shared, heads[k], data[k][0], data[k][1]).item() for k in range(STATIONS)]
        print(f"round {rnd:02d} local_nll={np.mean(losses):+.4f} personalized_nll=" +
              " ".join(f"{e:+.3f}" for e in evals))
mse = [mx.mean((heads[k](shared(data[k][0]))[0] - data[k][1]) ** 2).item() for k in range(STATIONS)]
sig = [float(mx.mean(mx.exp(0.5 * heads[k](shared(data[k][0]))[1])).item()) for k in range(STATIONS)]
print("final rmse  :", " ".join(f"{np.sqrt(m):.3f}" for m in mse))
print("pred sigma  :", " ".join(f"{s:.3f}" for s in sig))
print("true sigma  :", " ".join(f"{d[2]:.3f}" for d in data))
