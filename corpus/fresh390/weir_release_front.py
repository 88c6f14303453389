# One release policy for a river weir, conditioned on a preference weight w in [0, 1]
# between two objectives: match the hydropower schedule (a) and match the
# downstream habitat flow (b). Each step samples w per row from Dirichlet(1, 1);
# the per-row objective is w * (r - a)^2 + (1 - w) * (r - b)^2.
# Checkpoint after phase 1, fresh objects rebuilt from disk for phase 2.
import os, json, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
N, NV = 8000, 2000
feat = rng.standard_normal((N + NV, 5)).astype(np.float32)   # inflow, price, temp, month s/c
a = (1.2 * feat[:, 1] + 0.5 * feat[:, 0] + 0.3 * np.tanh(2 * feat[:, 3])).astype(np.float32)
b = (0.9 * feat[:, 0] - 0.6 * feat[:, 2] + 0.4 * feat[:, 4] ** 2 - 0.4).astype(np.float32)
a_obs = a + 0.15 * rng.standard_normal(N + NV).astype(np.float32)
b_obs = b + 0.15 * rng.standard_normal(N + NV).astype(np.float32)
Xtr, Atr, Btr = mx.array(feat[:N]), mx.array(a_obs[:N]), mx.array(b_obs[:N])
Xva, Ava, Bva = mx.array(feat[N:]), mx.array(a_obs[N:]), mx.array(b_obs[N:])
RAYS = [0.0, 0.25, 0.5, 0.75, 1.0]
gap2 = float(np.mean((a[N:] - b[N:]) ** 2))
NOISE = 0.15 ** 2


def oracle(w):  # expected losses of r = w a + (1 - w) b on noisy targets
    return (1 - w) ** 2 * gap2 + NOISE, w ** 2 * gap2 + NOISE


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))

    def __call__(self, x, w):
        return self.body(mx.concatenate([x, w[:, None]], axis=1)).squeeze(-1)


def objective(model, x, ya, yb, w):
    r = model(x, w)
    la, lb = (r - ya) ** 2, (r - yb) ** 2
    return mx.mean(w * la + (1 - w) * lb), (mx.mean(la), mx.mean(lb))


def front(model):
    out = []
    for w in RAYS:
        r = model(Xva, mx.full((NV,), w))
        out.append((mx.mean((r - Ava) ** 2).item(), mx.mean((r - Bva) ** 2).item()))
    return out


def hypervolume(pts, ref=(4.0, 4.0)):
    pts = sorted(pts)
    hv, prev_b = 0.0, ref[1]
    for la, lb in pts:
        if lb < prev_b:
            hv += (ref[0] - la) * (prev_b - lb)
            prev_b = lb
    return hv


def report(tag, phase, ep, lr, tr, model):
    f = front(model)
    print("&%s phase=%d, epoch=%d, lr=%.3e, train_obj=%.4f, train_la=%.4f, train_lb=%.4f," % (tag, phase, ep, lr, *tr))
    print("   front_la=" + ", ".join("%.3f" % p[0] for p in f) + ",")
    print("   front_lb=" + ", ".join("%.3f" % p[1] for p in f) + ",")
    print("   hv=%.3f, hv_oracle=%.3f /" % (hypervolume(f), hypervolume([oracle(w) for w in RAYS])))


def run_phase(model, opt, phase, epochs):
    step = nn.value_and_grad(model, objective)
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(N))
        tot = np.zeros(3); k = 0
        lr0 = opt.learning_rate.item()
        for i in range(0, N, 128):
            idx = perm[i:i + 128]
            w = mx.array(rng.dirichlet((1.0, 1.0), size=idx.shape[0])[:, 0].astype(np.float32))
            (obj, (la, lb)), g = step(model, Xtr[idx], Atr[idx], Btr[idx], w)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, obj, la, lb)
            tot += [obj.item(), la.item(), lb.item()]; k += 1
        if ep in (1, 2, 4) or ep % 4 == 0:
            report("ep", phase, ep, lr0, tot / k, model)


print("! weir release, preference rays w =", RAYS, " (w=1: hydropower only, w=0: habitat only)")
print("&oracle front_la=" + ", ".join("%.3f" % oracle(w)[0] for w in RAYS) + ",")
print("   front_lb=" + ", ".join("%.3f" % oracle(w)[1] for w in RAYS) + ", noise_floor=%.4f /" % NOISE)
t0 = time.time()
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 120), optim.cosine_decay(2e-3, 1200, end=1e-4)], [120])
model = Policy(); mx.eval(model.parameters())
opt = optim.Adam(learning_rate=sched)
(_, _), g0 = nn.value_and_grad(model, objective)(model, Xtr[:64], Atr[:64], Btr[:64], mx.full((64,), 0.5))
print("! first-step gradient tensors nonzero: %d/%d" % (sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(g0)), len(tree_flatten(g0))))
report("ep", 1, 0, 0.0, (float("nan"),) * 3, model)
run_phase(model, opt, 1, 8)

d = tempfile.mkdtemp()
model.save_weights(os.path.join(d, "policy.safetensors"))
mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(d, "meta.json"), "w") as fh:
    json.dump({"phase": 1, "epochs": 8}, fh)
before = front(model)
del model, opt
model = Policy(); model.load_weights(os.path.join(d, "policy.safetensors"))
opt = optim.Adam(learning_rate=sched)
opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
after = front(model)
print("! reloaded from %s: step=%d, max front change %.2e" % (os.path.basename(d), opt.step.item(),
      max(abs(p[0] - q[0]) + abs(p[1] - q[1]) for p, q in zip(before, after))))
run_phase(model, opt, 2, 8)
print("! done in %.1fs" % (time.time() - t0))
