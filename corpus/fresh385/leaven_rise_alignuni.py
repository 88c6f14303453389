# Sourdough starter rise curves: self-supervised embedding with the
# alignment + uniformity objective on the unit hypersphere (Wang & Isola),
# augmentation strength raised in stages, k-NN probe against a random encoder.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
T = 24
t = np.linspace(0.0, 1.0, T)

def make_curves(n):
    kind = rng.integers(0, 5, n)
    peak_t = np.array([0.35, 0.5, 0.65, 0.45, 0.6])[kind] + rng.normal(0, 0.03, n)
    height = np.array([1.0, 1.4, 0.8, 1.8, 1.2])[kind] * rng.uniform(0.85, 1.15, n)
    width = np.array([0.12, 0.18, 0.10, 0.22, 0.14])[kind]
    collapse = np.array([0.2, 0.6, 0.1, 0.9, 0.4])[kind]
    rise = height[:, None] / (1 + np.exp(-(t[None] - peak_t[:, None]) / (0.3 * width[:, None])))
    fall = np.clip(t[None] - peak_t[:, None], 0, None) * collapse[:, None] * height[:, None]
    x = rise - fall + rng.normal(0, 0.04, (n, T))
    return x.astype(np.float32), kind

x_unlab, _ = make_curves(6000)
x_lab, y_lab = make_curves(1500)
x_query, y_query = make_curves(600)
mu, sd = x_unlab.mean(0), x_unlab.std(0) + 1e-6

def augment(x, strength):
    n = x.shape[0]
    gain = 1 + strength * rng.normal(0, 0.15, (n, 1))
    offset = strength * rng.normal(0, 0.1, (n, 1))
    shift = rng.integers(-int(1 + 2 * strength), int(2 + 2 * strength), n)
    idx = np.clip(np.arange(T)[None] + shift[:, None], 0, T - 1)
    out = np.take_along_axis(x, idx, 1) * gain + offset
    out = out + rng.normal(0, 0.03 + 0.04 * strength, out.shape)
    return ((out - mu) / sd).astype(np.float32)

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(T, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, 16))
    def __call__(self, x):
        z = self.body(x)
        return z / mx.sqrt(mx.sum(z * z, axis=-1, keepdims=True) + 1e-8)

def align_uniform(model, a, b):
    za, zb = model(a), model(b)
    align = mx.mean(mx.sum((za - zb) ** 2, axis=-1))
    def unif(z):
        sq = mx.sum(z * z, -1)
        d2 = sq[:, None] + sq[None] - 2 * z @ z.T
        n = z.shape[0]
        off = 1 - mx.eye(n)
        return mx.log(mx.sum(mx.exp(-2 * d2) * off) / (n * (n - 1)))
    uni = 0.5 * (unif(za) + unif(zb))
    return align + uni, (align, uni)

def knn_acc(model, k=10):
    bank = model(mx.array((x_lab - mu) / sd))
    q = model(mx.array((x_query - mu) / sd))
    sims = np.array(q @ bank.T)
    nn_idx = np.argsort(-sims, 1)[:, :k]
    votes = y_lab[nn_idx]
    pred = np.array([np.bincount(v, minlength=5).argmax() for v in votes])
    return float((pred == y_query).mean())

mx.random.seed(3)
model = Encoder()
mx.eval(model.parameters())
base = knn_acc(model)
print(f"curves unlabelled={len(x_unlab)} probe_bank={len(x_lab)} queries={len(x_query)} classes=5 chance=0.200")
print(f"random-encoder kNN acc={base:.3f}")

steps_per_epoch = len(x_unlab) // 200
sched = optim.step_decay(0.2, 0.5, 6 * steps_per_epoch)
opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=1e-4)
lg = nn.value_and_grad(model, lambda m, a, b: align_uniform(m, a, b)[0])

stages = [(0.3, 6), (0.7, 6), (1.0, 6)]
print("stage,epoch,aug,lr,loss,align,uniform,knn_acc,secs")
t0 = time.time(); epoch = 0
for si, (strength, n_ep) in enumerate(stages, 1):
    for _ in range(n_ep):
        epoch += 1
        perm = rng.permutation(len(x_unlab))
        tot = [0.0, 0.0, 0.0]
        for b in range(steps_per_epoch):
            xb = x_unlab[perm[b * 200:(b + 1) * 200]]
            a, c = mx.array(augment(xb, strength)), mx.array(augment(xb, strength))
            loss, g = lg(model, a, c)
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
        # epoch summary on a held batch of views
        a, c = mx.array(augment(x_lab[:400], strength)), mx.array(augment(x_lab[:400], strength))
        l, (al, un) = align_uniform(model, a, c)
        lr_now = float(opt.learning_rate)
        print(f"{si},{epoch},{strength:.1f},{lr_now:.4f},{l.item():.4f},{al.item():.4f},{un.item():.4f},{knn_acc(model):.3f},{time.time()-t0:.1f}")
final = knn_acc(model)
print(f"final kNN acc={final:.3f} (random encoder {base:.3f}, chance 0.200)")
