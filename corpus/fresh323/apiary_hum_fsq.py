import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
L = 32
t = np.arange(L) / L

def make_frames(n):
    f0 = rng.uniform(2.0, 6.0, size=(n, 1))
    amp = rng.uniform(0.5, 1.2, size=(n, 1))
    ph = rng.uniform(0, 2 * np.pi, size=(n, 1))
    x = amp * np.sin(2 * np.pi * f0 * t + ph) + 0.3 * amp * np.sin(4 * np.pi * f0 * t + ph)
    return x.astype(np.float32)[..., None]

train = mx.array(make_frames(4096))
val = mx.array(make_frames(512))
LEVELS = mx.array([7.0, 5.0, 5.0])

def fsq(z):
    half = (LEVELS - 1) / 2
    b = mx.tanh(z) * half
    return (b + mx.stop_gradient(mx.round(b) - b)) / half

class HiveCodec(nn.Module):
    def __init__(self):
        super().__init__()
        self.e1 = nn.Conv1d(1, 16, 5, stride=2, padding=2)
        self.e2 = nn.Conv1d(16, 3, 5, stride=2, padding=2)
        self.d1 = nn.Linear(3 * 8, 64)
        self.d2 = nn.Linear(64, L)

    def __call__(self, x):
        h = nn.gelu(self.e1(x))
        q = fsq(self.e2(h))
        y = self.d2(nn.gelu(self.d1(q.reshape(q.shape[0], -1))))
        return y[..., None]

def loss_fn(model, noisy, clean):
    return mx.mean((model(noisy) - clean) ** 2)

model = HiveCodec()
warm = optim.linear_schedule(0.0, 3e-3, 100)
sched = optim.join_schedules([warm, optim.cosine_decay(3e-3, 1100, 1e-4)], [100])
opt = optim.Adam(learning_rate=sched)
step_fn = nn.value_and_grad(model, loss_fn)
baseline = mx.mean((val - mx.mean(train, axis=0)) ** 2).item()
print(f"baseline (mean frame) val mse {baseline:.4f}")
ckpt = os.path.join(tempfile.mkdtemp(), "hive.safetensors")

def run(steps, noise, start):
    for s in range(start, start + steps):
        idx = mx.array(rng.integers(0, train.shape[0], 128))
        clean = train[idx]
        noisy = clean + noise * mx.random.normal(clean.shape)
        loss, g = step_fn(model, noisy, clean)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if (s + 1) % 150 == 0:
            vn = val + noise * mx.random.normal(val.shape)
            v = loss_fn(model, vn, val).item()
            print(f"step {s+1:4d} lr {opt.learning_rate.item():.5f} train {loss.item():.4f} val {v:.4f} (baseline {baseline:.4f})")
    return start + steps

s = run(600, 0.0, 0)
model.save_weights(ckpt)
print(f"stage 1 done, saved checkpoint at step {s}")
model = HiveCodec()
model.load_weights(ckpt)
step_fn = nn.value_and_grad(model, loss_fn)
print("resumed from checkpoint; stage 2 adds hive noise 0.35 to inputs")
s = run(600, 0.35, s)
codes = fsq(model.e2(nn.gelu(model.e1(val))))
half = (LEVELS - 1) / 2
ids = np.array(((codes * half + half) * mx.array([25.0, 5.0, 1.0])).sum(-1)).astype(int)
print(f"distinct codes used on val: {len(np.unique(ids))} of 175")
final = loss_fn(model, val, val).item()
print(f"final clean val mse {final:.4f} vs baseline {baseline:.4f} ratio {final / baseline:.3f}")
