# Canal lock-keeping: self-supervised VICReg embedding of 32-sample water-level
# traces recorded while a lock chamber fills. Five sluice-gear types shape the
# curve; the embedding is judged by a k-NN probe on the gear type.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)
T, N_TYPES = 32, 5

def make_traces(n):
    kind = rng.integers(0, N_TYPES, n)
    t = np.linspace(0, 1, T)[None, :]
    rate = np.array([2.0, 3.5, 5.0, 7.0, 9.5])[kind][:, None]
    wobble = np.array([0.0, 0.15, 0.0, 0.1, 0.05])[kind][:, None]
    delay = np.array([0.0, 0.1, 0.25, 0.05, 0.15])[kind][:, None]
    s = np.clip(t - delay, 0, None)
    x = 1 - np.exp(-rate * s) + wobble * np.sin(18 * s)
    x = x * rng.uniform(2.5, 4.5, (n, 1)) + rng.normal(0, 0.05, (n, T))
    return x.astype(np.float32), kind

def augment(x):
    n = x.shape[0]
    scale = rng.uniform(0.8, 1.2, (n, 1)).astype(np.float32)
    shift = rng.uniform(-0.3, 0.3, (n, 1)).astype(np.float32)
    noise = rng.normal(0, 0.08, x.shape).astype(np.float32)
    roll = rng.integers(-2, 3)
    return np.roll(x * scale + shift + noise, roll, axis=1)

class Encoder(nn.Module):
    def __init__(self, d_rep=32, d_proj=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(T, 96), nn.GELU(), nn.Linear(96, d_rep))
        self.proj = nn.Sequential(nn.Linear(d_rep, d_proj), nn.LayerNorm(d_proj), nn.GELU(), nn.Linear(d_proj, d_proj))
    def __call__(self, x):
        return self.proj(self.body(x))
    def represent(self, x):
        return self.body(x)

def vicreg(za, zb, lam=25.0, mu=25.0, nu=1.0):
    n, d = za.shape
    inv = mx.mean((za - zb) ** 2)
    def var_cov(z):
        z = z - mx.mean(z, axis=0)
        std = mx.sqrt(mx.var(z, axis=0) + 1e-4)
        v = mx.mean(mx.maximum(0.0, 1.0 - std))
        c = (z.T @ z) / (n - 1)
        off = c * (1 - mx.eye(d))
        return v, mx.sum(off ** 2) / d
    va, ca = var_cov(za)
    vb, cb = var_cov(zb)
    return lam * inv + mu * (va + vb) + nu * (ca + cb), inv, va + vb

def knn_acc(train_z, train_y, test_z, test_y, k=5):
    a = train_z / (np.linalg.norm(train_z, axis=1, keepdims=True) + 1e-8)
    b = test_z / (np.linalg.norm(test_z, axis=1, keepdims=True) + 1e-8)
    idx = np.argsort(-(b @ a.T), axis=1)[:, :k]
    votes = train_y[idx]
    pred = np.array([np.bincount(v, minlength=N_TYPES).argmax() for v in votes])
    return float((pred == test_y).mean())

x_pool, _ = make_traces(6000)
x_bank, y_bank = make_traces(1500)
x_test, y_test = make_traces(800)
xb_aug, xt_aug = augment(x_bank), augment(x_test)

def probe(model):
    zb = np.array(model.represent(mx.array(xb_aug)))
    zt = np.array(model.represent(mx.array(xt_aug)))
    return knn_acc(zb, y_bank, zt, y_test)

model = Encoder()
mx.eval(model.parameters())
print(f"baseline k-NN on raw augmented traces: {knn_acc(xb_aug, y_bank, xt_aug, y_test):.3f}")
print(f"baseline k-NN with untrained encoder:  {probe(model):.3f}")
print(f"chance: {1 / N_TYPES:.3f}")

STEPS, WARM, BATCH, PEAK = 600, 100, 256, 2e-3
sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM),
                              optim.cosine_decay(PEAK, STEPS - WARM, 1e-5)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def loss_fn(m, a, b):
    total, inv, var = vicreg(m(a), m(b))
    return total, (inv, var)

grad_fn = nn.value_and_grad(model, loss_fn)

def step(m, o, a, b):
    (loss, (inv, var)), g = grad_fn(m, mx.array(a), mx.array(b))
    o.update(m, g)
    mx.eval(m.parameters(), o.state, loss, inv, var)
    return loss.item(), inv.item(), var.item()

ckpt_dir = tempfile.mkdtemp("", "lockchamber_")
RESUME_AT = 300
t0 = time.time()
s = 0
while s < RESUME_AT:
    idx = rng.integers(0, len(x_pool), BATCH)
    xb = x_pool[idx]
    loss, inv, var = step(model, opt, augment(xb), augment(xb))
    if s % 75 == 0:
        print(f"step {s:4d} lr {float(sched(mx.array(s))):.2e} loss {loss:8.4f} inv {inv:.4f} var-hinge {var:.4f}")
    s += 1

wpath = os.path.join(ckpt_dir, "enc.safetensors")
model.save_weights(wpath)
opt_state = dict(tree_flatten(opt.state))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), opt_state)
print(f"checkpoint at step {s}: probe {probe(model):.3f} (saved to {ckpt_dir})")

# a fresh process would do exactly this: rebuild, load, carry on
model = Encoder()
model.load_weights(wpath)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
from mlx.utils import tree_unflatten
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
grad_fn = nn.value_and_grad(model, loss_fn)
print(f"resumed at optimizer step {int(opt.state['step'].item())}, lr {float(opt.learning_rate.item()):.2e}")

while s < STEPS:
    idx = rng.integers(0, len(x_pool), BATCH)
    xb = x_pool[idx]
    loss, inv, var = step(model, opt, augment(xb), augment(xb))
    if s % 75 == 0 or s == STEPS - 1:
        print(f"step {s:4d} lr {float(sched(mx.array(s))):.2e} loss {loss:8.4f} inv {inv:.4f} var-hinge {var:.4f}")
    s += 1

acc = probe(model)
print(f"final k-NN probe on gear type: {acc:.3f} ({time.time() - t0:.1f}s)")
