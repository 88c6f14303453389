import time, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

H = W = 16; C = 10; POOL = 48; BATCH = 8
rng = np.random.default_rng(3)
mx.random.seed(3)

yy, xx = np.mgrid[0:H, 0:W]
r = np.sqrt((yy - 7.5) ** 2 + (xx - 7.5) ** 2)
alpha = ((r > 3.0) & (r < 6.5)).astype(np.float32)
rgb = np.stack([alpha * (xx / W), alpha * 0.6, alpha * (1 - yy / H)], -1)
target = mx.array(np.concatenate([rgb, alpha[..., None]], -1))

def seed_state(n):
    s = np.zeros((n, H, W, C), np.float32)
    s[:, 8, 8, 3:] = 1.0
    return s

sob = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 8
ident = np.zeros((3, 3), np.float32); ident[1, 1] = 1
kern = np.stack([ident, sob, sob.T], 0)
K = np.zeros((3 * C, 3, 3, C), np.float32)
for c in range(C):
    for k in range(3):
        K[k * C + c, :, :, c] = kern[k]
PERCEIVE = mx.array(K)
NEIGH = mx.ones((1, 3, 3, 1))

class Rule(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3 * C, 64)
        self.l2 = nn.Linear(64, C)
        self.l2.weight = mx.zeros_like(self.l2.weight)
        self.l2.bias = mx.zeros_like(self.l2.bias)
    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))

def alive_mask(x):
    a = mx.stop_gradient((x[..., 3:4] > 0.1).astype(x.dtype))
    return mx.conv2d(a, NEIGH, padding=1) > 0.5

def perceive(x):
    return mx.conv2d(x, PERCEIVE, padding=1)

def ca_step(model, x, key):
    pre = alive_mask(x)
    p = perceive(x)
    dx = model(p)
    fire = (mx.random.uniform(shape=x.shape[:3] + (1,), key=key) < 0.5).astype(x.dtype)
    x = x + dx * fire
    life = (pre & alive_mask(x)).astype(x.dtype)
    return x * life

def rollout(model, x, n, key):
    for k in mx.random.split(key, n):
        x = ca_step(model, x, k)
    return x

def per_sample_loss(x):
    return mx.mean((x[..., :4] - target) ** 2, axis=(1, 2, 3))

def loss_fn(model, x, n, key):
    out = rollout(model, x, n, key)
    return mx.mean(per_sample_loss(out)), out

model = Rule()
mx.eval(model.parameters())
warm = 30; total = 170
sched = optim.join_schedules([optim.linear_schedule(0.0, 8e-3, warm),
                              optim.cosine_decay(8e-3, total - warm, 5e-4)], [warm])
opt = optim.Adam(learning_rate=sched)
opt.init(model.trainable_parameters())
vg = nn.value_and_grad(model, loss_fn)

def train_step(x, key, n):
    (loss, out), grads = vg(model, x, n, key)
    grads = tree_map(lambda g: g / (mx.linalg.norm(g) + 1e-8), grads)
    opt.update(model, grads)
    return loss, out

pool = seed_state(POOL)
def damage(s):
    cy, cx = rng.integers(4, 12, size=2)
    m = ((yy - cy) ** 2 + (xx - cx) ** 2) < 9
    s[..., :][m] = 0.0
    return s

eval_key = mx.random.key(99)
def probe(grow_steps=40):
    x = rollout(model, mx.array(seed_state(4)), grow_steps, eval_key)
    grown = float(mx.mean(per_sample_loss(x)))
    xd = np.array(x); m = ((yy - 5) ** 2 + (xx - 11) ** 2) < 9; xd[:, m] = 0.0
    hurt = float(mx.mean(per_sample_loss(mx.array(xd))))
    xr = rollout(model, mx.array(xd), 30, mx.random.key(7))
    healed = float(mx.mean(per_sample_loss(xr)))
    return grown, hurt, healed

empty = float(mx.mean(target ** 2))
print(f"target cells alive: {int(alpha.sum())}/{H*W}   empty-canvas mse baseline: {empty:.5f}")
t0 = time.time(); key = mx.random.key(0)
for it in range(1, total + 1):
    idx = rng.choice(POOL, BATCH, replace=False)
    batch = pool[idx].copy()
    with_loss = np.array(per_sample_loss(mx.array(batch)))
    order = np.argsort(-with_loss)
    batch[order[0]] = seed_state(1)[0]
    if it > 80:
        for j in order[-2:]:
            batch[j] = damage(batch[j])
    key, k1 = mx.random.split(key)
    n = int(rng.integers(12, 21))
    loss, out = train_step(mx.array(batch), k1, n)
    mx.eval(model.parameters(), opt.state, loss, out)
    pool[idx] = np.array(out)
    if it == 1 or it % 30 == 0:
        lr = float(opt.learning_rate)
        print(f"it {it:4d}  steps {n:2d}  lr {lr:.2e}  pool mse {loss.item():.5f}  log10 {math.log10(loss.item()):+.3f}  {time.time()-t0:5.1f}s")
    if it in (80, total):
        g, h, r2 = probe()
        print(f"  probe @ {it}: grown-from-seed mse {g:.5f} | after cut {h:.5f} | after regrowth {r2:.5f} | empty {empty:.5f}")
print("done")
