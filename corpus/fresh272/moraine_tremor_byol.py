"""Glacier seismic tremor: BYOL pretraining with a momentum target, resume from a
checkpoint halfway, then linear probes (frozen encoder vs random encoder)."""
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
NB = 40  # spectral bins
KINDS = ["basal-slip", "crevasse", "meltwater", "calving"]

def make_spectra(n):
    y = rng.integers(0, 4, n)
    f = np.arange(NB)[None, :]
    centre = np.array([14.0, 17.0, 20.0, 23.0])[y][:, None] + rng.normal(0, 2.0, (n, 1))
    width = np.array([2.5, 2.0, 3.0, 2.5])[y][:, None]
    harm = np.array([0.0, 0.3, 0.0, 0.2])[y][:, None]
    s = np.exp(-0.5 * ((f - centre) / width) ** 2) + harm * np.exp(-0.5 * ((f - 1.7 * centre) / width) ** 2)
    s *= rng.uniform(0.5, 2.0, (n, 1))
    s += 0.45 * rng.gamma(2.0, 1.0, (n, NB))
    return np.log1p(s).astype(np.float32), y

def augment(x):
    x = x * rng.uniform(0.8, 1.25, (len(x), 1))
    x = np.stack([np.roll(r, k) for r, k in zip(x, rng.integers(-1, 2, len(x)))])
    x = x + rng.normal(0, 0.05, x.shape)
    m = rng.random(x.shape) < 0.1
    return np.where(m, 0.0, x).astype(np.float32)

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NB, 96)
        self.n1 = nn.LayerNorm(96)
        self.l2 = nn.Linear(96, 32)
    def __call__(self, x):
        return self.l2(nn.gelu(self.n1(self.l1(x))))

def mlp(i, h, o):
    return nn.Sequential(nn.Linear(i, h), nn.BatchNorm(h), nn.ReLU(), nn.Linear(h, o))

class Online(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.proj = mlp(32, 64, 24)
        self.pred = mlp(24, 64, 24)

class Target(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.proj = mlp(32, 64, 24)

def norm(z):
    return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-8)

def byol_loss(online, target, v1, v2):
    p1 = online.pred(online.proj(online.enc(v1)))
    p2 = online.pred(online.proj(online.enc(v2)))
    t1 = mx.stop_gradient(target.proj(target.enc(v1)))
    t2 = mx.stop_gradient(target.proj(target.enc(v2)))
    l = (2 - 2 * (norm(p1) * norm(t2)).sum(-1)) + (2 - 2 * (norm(p2) * norm(t1)).sum(-1))
    return l.mean()

def copy_into_target(online, target):
    target.enc.update(tree_map(lambda a: mx.array(a), online.enc.parameters()))
    target.proj.update(tree_map(lambda a: mx.array(a), online.proj.parameters()))

def ema(online, target, tau):
    for part in ("enc", "proj"):
        new = tree_map(lambda t, o: tau * t + (1 - tau) * o,
                       getattr(target, part).parameters(), getattr(online, part).parameters())
        getattr(target, part).update(new)

TOTAL, HALF, BS = 400, 200, 192
base_tau = 0.96
lr_sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 40),
                                 optim.cosine_decay(2e-3, TOTAL - 40, 1e-4)], [40])

def tau_at(step):
    return 1 - (1 - base_tau) * (math.cos(math.pi * step / TOTAL) + 1) / 2

unlab, _ = make_spectra(8000)
lab_x, lab_y = make_spectra(240)
test_x, test_y = make_spectra(1200)

def knn_acc(enc):
    a = np.array(norm(enc(mx.array(lab_x))))
    b = np.array(norm(enc(mx.array(test_x))))
    nn_idx = np.argsort(-b @ a.T, axis=1)[:, :5]
    votes = lab_y[nn_idx]
    pred = np.array([np.bincount(v, minlength=4).argmax() for v in votes])
    return 100.0 * (pred == test_y).mean()

def run(online, target, opt, start, stop, ckpt=None):
    step_fn = nn.value_and_grad(online, lambda m, a, b: byol_loss(m, target, a, b))
    t0 = time.time()
    for step in range(start, stop):
        idx = rng.integers(0, len(unlab), BS)
        xb = unlab[idx]
        v1, v2 = mx.array(augment(xb)), mx.array(augment(xb))
        loss, g = step_fn(online, v1, v2)
        opt.update(online, g)
        ema(online, target, tau_at(step))
        mx.eval(online.parameters(), target.parameters(), opt.state, loss)
        if step % 50 == 0 or step == stop - 1:
            print(f"step {step:4d}  byol {loss.item():.4f}  lr {opt.learning_rate.item():.2e}  "
                  f"tau {tau_at(step):.5f}  knn@5 {knn_acc(online.enc):5.1f}%  ({time.time()-t0:.1f}s)")
    if ckpt:
        flat = {f"online.{k}": v for k, v in tree_flatten(online.parameters())}
        flat.update({f"target.{k}": v for k, v in tree_flatten(target.parameters())})
        flat.update({f"opt.{k}": v for k, v in tree_flatten(opt.state)})
        mx.savez(ckpt, **flat)
        print(f"checkpoint written at step {stop} -> {os.path.basename(ckpt)} ({len(flat)} arrays)")

ckdir = tempfile.mkdtemp()
ckpt = os.path.join(ckdir, "byol_ckpt.npz")
online, target = Online(), Target()
copy_into_target(online, target)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
print(f"random-init encoder knn@5 {knn_acc(online.enc):.1f}%  (chance 25.0%)")
run(online, target, opt, 0, HALF, ckpt)

# ---- new process would start here: rebuild everything and resume from the file ----
del online, target, opt
state = mx.load(ckpt)
online, target = Online(), Target()
online.update(tree_unflatten([(k[7:], v) for k, v in state.items() if k.startswith("online.")]))
target.update(tree_unflatten([(k[7:], v) for k, v in state.items() if k.startswith("target.")]))
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
opt.init(online.trainable_parameters())
opt.state = tree_unflatten([(k[4:], v) for k, v in state.items() if k.startswith("opt.")])
print(f"resumed at step {opt.step.item()}  knn@5 {knn_acc(online.enc):.1f}%")
run(online, target, opt, HALF, TOTAL)

def probe(enc, tag):
    enc.freeze()
    before = [np.array(v) for _, v in tree_flatten(enc.parameters())]
    head = nn.Linear(32, 4)
    f_tr = mx.stop_gradient(enc(mx.array(lab_x)))
    f_te = enc(mx.array(test_x))
    popt = optim.SGD(learning_rate=0.1, momentum=0.9)
    lg = nn.value_and_grad(head, lambda h, f, y: nn.losses.cross_entropy(h(f), y, reduction="mean"))
    yb = mx.array(lab_y)
    for ep in range(300):
        l, g = lg(head, f_tr, yb)
        popt.update(head, g)
        mx.eval(head.parameters(), popt.state)
    acc = 100.0 * (mx.argmax(head(f_te), -1) == mx.array(test_y)).mean().item()
    drift = max(float(np.abs(np.array(v) - b).max()) for (_, v), b in zip(tree_flatten(enc.parameters()), before))
    print(f"probe[{tag:>8}]  train CE {l.item():.3f}  test acc {acc:5.1f}%  encoder drift {drift:.1e}")
    return acc

rand_acc = probe(Encoder(), "random")
byol_acc = probe(online.enc, "byol")
gap = float(np.abs(np.array(online.enc.l1.weight) - np.array(target.enc.l1.weight)).mean())
print(f"online/target mean |dW| on first layer {gap:.2e}")
print(f"summary: byol probe {byol_acc:.1f}% vs random-encoder probe {rand_acc:.1f}% (chance 25.0%)")
