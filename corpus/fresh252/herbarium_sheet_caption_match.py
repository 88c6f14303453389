# Herbarium digitisation: align pressed-specimen scan descriptors with curator label
# descriptors in a shared space (two-tower, CLIP-style), synthetic data.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_TAXA, D_LAT, D_IMG, D_TXT = 400, 12, 40, 24
A_img = rng.normal(size=(D_LAT, D_IMG)) / np.sqrt(D_LAT)
A_txt = rng.normal(size=(D_LAT, D_TXT)) / np.sqrt(D_LAT)
taxa = rng.normal(size=(N_TAXA, D_LAT))

def sample(n):
    t = rng.integers(0, N_TAXA, size=n)
    z = taxa[t] + 0.35 * rng.normal(size=(n, D_LAT))
    img = np.tanh(z @ A_img) + 0.10 * rng.normal(size=(n, D_IMG))
    txt = np.tanh((taxa[t] + 0.20 * rng.normal(size=(n, D_LAT))) @ A_txt) + 0.05 * rng.normal(size=(n, D_TXT))
    return img.astype(np.float32), txt.astype(np.float32)

Xi, Xt = sample(20000)
Vi, Vt = sample(512)

class Tower(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, 128), nn.GELU(), nn.Linear(128, 32))
    def __call__(self, x):
        h = self.net(x)
        return h / mx.sqrt((h * h).sum(axis=-1, keepdims=True) + 1e-8)

class Aligner(nn.Module):
    def __init__(self):
        super().__init__()
        self.sheet = Tower(D_IMG)
        self.label = Tower(D_TXT)
        self.log_scale = mx.array(np.log(1 / 0.07), dtype=mx.float32)
    def __call__(self, a, b):
        s = mx.exp(mx.minimum(self.log_scale, np.log(100.0)))
        return s * (self.sheet(a) @ self.label(b).T)

def loss_fn(model, a, b):
    logits = model(a, b)
    y = mx.arange(logits.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, y, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, y, reduction="mean"))

def recall_at_1(model, a, b):
    sim = model.sheet(a) @ model.label(b).T
    return float((mx.argmax(sim, axis=1) == mx.arange(sim.shape[0])).mean())

mx.random.seed(3)
model = Aligner()
mx.eval(model.parameters())
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 150), optim.cosine_decay(2e-3, 850, 1e-4)], [150])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)
va, vb = mx.array(Vi), mx.array(Vt)
Xi_mx, Xt_mx = mx.array(Xi), mx.array(Xt)

print("---")
print(f"specimens: {len(Xi)}  taxa: {N_TAXA}  valid pairs: {len(Vi)}")
print(f"chance_recall_at_1_pct: {100 / len(Vi):.2f}")
print(f"untrained_recall_at_1_pct: {100 * recall_at_1(model, va, vb):.2f}")

t0 = time.time()
window = []
for step in range(1, 1001):
    bs = 64 if step <= 500 else 128          # larger batch = more negatives in stage 2
    idx = mx.array(rng.integers(0, len(Xi), size=bs))
    a, b = Xi_mx[idx], Xt_mx[idx]
    loss, grads = vg(model, a, b)
    if step == 1:
        leaves = tree_flatten(grads)
        nz = sum(1 for _, g in leaves if float(mx.abs(g).sum()) > 0)
        print(f"grad_leaves_nonzero: {nz}/{len(leaves)}")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step in (1, 2, 3) or step % 250 == 0:
        print("---")
        print(f"step: {step}")
        print(f"batch: {bs}")
        print(f"lr: {float(opt.learning_rate):.6f}")
        print(f"info_nce_window: {np.mean(window):.4f}")
        print(f"log_batch: {np.log(bs):.4f}")
        print(f"temperature: {float(1 / mx.exp(mx.minimum(model.log_scale, np.log(100.0)))):.4f}")
        print(f"valid_recall_at_1_pct: {100 * recall_at_1(model, va, vb):.2f}")
        print(f"secs: {time.time() - t0:.1f}")
        window = []
print("---")
print(f"done: true")
print(f"final_valid_recall_at_1_pct: {100 * recall_at_1(model, va, vb):.2f}")
