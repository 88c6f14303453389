# Lichen survey on a granite boulder: 2-D rosette positions (arc of crustose patches,
# two foliose clusters) learned by conditional flow matching with an entropic
# minibatch optimal-transport coupling (Sinkhorn in NumPy) between noise and data.
# Two warm-restart cycles of the learning rate; the loss rises after the restart.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
mx.random.seed(3)

def rosettes(n):
    k = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    out = np.empty((n, 2), np.float32)
    a = rng.uniform(0.3, 2.8, n)
    arc = np.stack([2.0 * np.cos(a), 2.0 * np.sin(a) - 0.8], 1) + rng.normal(0, 0.08, (n, 2))
    c1 = rng.normal([-1.2, -1.4], [0.20, 0.15], (n, 2))
    c2 = rng.normal([1.3, -1.5], [0.12, 0.25], (n, 2))
    out[:] = np.where((k == 0)[:, None], arc, np.where((k == 1)[:, None], c1, c2))
    return out

x_tr, x_te = rosettes(16000), rosettes(800)

def sinkhorn_pairs(x0, x1, reg=0.05, iters=40):
    C = ((x0[:, None, :] - x1[None, :, :]) ** 2).sum(-1)
    C = C / C.mean()
    n = len(x0)
    logK = -C / reg
    f = np.zeros(n); g = np.zeros(n)
    for _ in range(iters):
        f = -np.log(n) - np.logaddexp.reduce(logK + g[None, :], axis=1)
        g = -np.log(n) - np.logaddexp.reduce(logK + f[:, None], axis=0)
    P = np.exp(logK + f[:, None] + g[None, :])
    P = P / P.sum(1, keepdims=True)
    j = (P.cumsum(1) > rng.uniform(size=(n, 1))).argmax(1)
    return x1[j]

class Velocity(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self._w = mx.array([1.0, 2.0, 4.0, 8.0])
        self.net = nn.Sequential(nn.Linear(2 + 8, d), nn.SiLU(), nn.Linear(d, d), nn.SiLU(),
                                 nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 2))
    def __call__(self, x, t):
        tt = t[:, None] * self._w[None] * np.pi
        return self.net(mx.concatenate([x, mx.sin(tt), mx.cos(tt)], -1))

def cfm_loss(model, x0, x1, t):
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    return ((model(xt, t) - (x1 - x0)) ** 2).sum(-1).mean()

def sample(model, n, k, seed):
    x = mx.array(np.random.default_rng(seed).standard_normal((n, 2)).astype(np.float32))
    for i in range(k):
        t = mx.full((n,), i / k)
        x = x + model(x, t) / k
    mx.eval(x)
    return np.array(x)

def energy_distance(a, b):
    d = lambda p, q: np.sqrt(((p[:, None] - q[None]) ** 2).sum(-1)).mean()
    return float(2 * d(a, b) - d(a, a) - d(b, b))

model = Velocity()
CYCLE, BATCH = 400, 128
sched = optim.join_schedules([optim.cosine_decay(3e-3, CYCLE, 5e-5), optim.cosine_decay(1.5e-3, CYCLE, 1e-5)], [CYCLE])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, cfm_loss)

noise_ed = energy_distance(np.random.default_rng(9).standard_normal((800, 2)), x_te)
floor_ed = energy_distance(x_tr[:800], x_te)
print(f"[lichen] rosettes train={len(x_tr)} heldout={len(x_te)}")
print(f"[lichen] energy distance to held-out: pure noise {noise_ed:.4f} | second field sample {floor_ed:.4f}")
t0 = time.time()
win, wc_ot, wc_ind = [], [], []
for it in range(1, 2 * CYCLE + 1):
    x1 = x_tr[rng.integers(0, len(x_tr), BATCH)]
    x0 = rng.standard_normal((BATCH, 2)).astype(np.float32)
    x1p = sinkhorn_pairs(x0, x1)
    wc_ot.append(((x1p - x0) ** 2).sum(1).mean()); wc_ind.append(((x1 - x0) ** 2).sum(1).mean())
    t = mx.array(rng.uniform(size=BATCH).astype(np.float32))
    lr_now = float(sched(opt.step))
    loss, g = vg(model, mx.array(x0), mx.array(x1p), t)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    win.append(float(loss))
    if it == CYCLE + 1:
        print(f"[lichen] cycle 2 begins at step {it}: lr back up to {lr_now:.2e}")
    if it == 1 or it % 100 == 0:
        line = (f"[lichen] step {it:4d}\tlr {lr_now:.2e}\tcfm {np.mean(win):.4f}\t"
                f"pair_cost ot {np.mean(wc_ot):.3f} vs random {np.mean(wc_ind):.3f}")
        if it % 200 == 0:
            e1 = energy_distance(sample(model, 800, 1, 21), x_te)
            e8 = energy_distance(sample(model, 800, 8, 21), x_te)
            line += f"\tED(1 step) {e1:.4f}\tED(8 steps) {e8:.4f}"
        print(line + f"\t{time.time()-t0:.1f}s")
        win, wc_ot, wc_ind = [], [], []
e1 = energy_distance(sample(model, 800, 1, 44), x_te)
e2 = energy_distance(sample(model, 800, 2, 44), x_te)
e8 = energy_distance(sample(model, 800, 8, 44), x_te)
print(f"[lichen] final energy distance 1/2/8 Euler steps: {e1:.4f} / {e2:.4f} / {e8:.4f} (noise {noise_ed:.4f}, floor {floor_ed:.4f})")
