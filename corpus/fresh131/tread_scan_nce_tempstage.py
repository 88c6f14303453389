"""Tyre shop: match two laser scans of the same tread (different day, wear, sensor
noise, small lateral shift) with a contrastive encoder. Hand-written VJP for the
L2-normalisation, a curriculum of harder stages (more negatives, more sensor noise;
each stage restarts its epoch counter and the InfoNCE value jumps up), Adamax with
warmup from lr=0."""
import math, sys, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2024)
NT, W = 160, 40           # tread identities, samples across the tread

base = mx.random.normal((NT, W))
base = mx.cumsum(base, axis=1) * 0.3 + 2.0 * mx.sin(mx.arange(W)[None] * mx.random.uniform(0.2, 1.2, (NT, 1)))

def scan(ids, key, noise=0.35):
    k1, k2, k3 = mx.random.split(key, 3)
    prof = base[ids]
    shift = mx.random.randint(-2, 3, (1,), key=k1).item()
    prof = mx.roll(prof, shift, axis=1)
    wear = mx.random.uniform(0.8, 1.0, (ids.shape[0], 1), key=k2)
    return prof * wear + noise * mx.random.normal(prof.shape, key=k3)

@mx.custom_function
def l2n(x):
    return x / mx.sqrt((x * x).sum(axis=-1, keepdims=True) + 1e-8)

@l2n.vjp
def l2n_vjp(primals, cotangent, output):
    x, g, y = primals, cotangent, output
    r = mx.sqrt((x * x).sum(axis=-1, keepdims=True) + 1e-8)
    return ((g - y * (y * g).sum(axis=-1, keepdims=True)) / r,)

class TreadEnc(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5, padding=2)
        self.c2 = nn.Conv1d(16, 32, 5, padding=2)
        self.proj = nn.Linear(32 * 2, 24)
    def __call__(self, x):
        h = nn.relu(self.c1(x[..., None]))
        h = nn.relu(self.c2(h))
        h = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return l2n(self.proj(h))

def info_nce(model, a, b, tau):
    za, zb = model(a), model(b)
    logits = za @ zb.T / tau
    lab = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, lab).mean() + nn.losses.cross_entropy(logits.T, lab).mean())

# audit the hand-written VJP once against autodiff
xa = mx.random.normal((5, 24)); ga = mx.random.normal((5, 24))
ref = mx.vjp(lambda x: x / mx.sqrt((x * x).sum(-1, keepdims=True) + 1e-8), [xa], [ga])[1][0]
mine = mx.vjp(l2n, [xa], [ga])[1][0]
print(f"[audit] l2n vjp |mine-autodiff|_max = {mx.abs(mine - ref).max().item():.2e}")

model = TreadEnc()
mx.eval(model.parameters())
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 20), optim.cosine_decay(2e-3, 220, 1e-4)], [20])
opt = optim.Adamax(learning_rate=sched)
lg = nn.value_and_grad(model, info_nce)

def step(a, b, tau):
    loss, g = lg(model, a, b, tau)
    opt.update(model, g)
    return loss, g

# check every parameter gets a gradient
key = mx.random.key(0)
ka, kb = mx.random.split(key)
ids0 = mx.arange(32)
_, g0 = lg(model, scan(ids0, ka), scan(ids0, kb), 0.5)
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
print(f"[audit] params with zero grad: {zero if zero else 'none'} of {len(tree_flatten(g0))}")

eval_ids = mx.arange(NT)
ek1, ek2 = mx.random.split(mx.random.key(77))
ev_a, ev_b = scan(eval_ids, ek1), scan(eval_ids, ek2)
def top1():
    s = model(ev_a) @ model(ev_b).T
    return (mx.argmax(s, axis=1) == eval_ids).mean().item() * 100

TAU = 0.2
stages = [(16, 0.20), (40, 0.35), (80, 0.50)]   # (negatives per batch, sensor noise): harder each stage
EPOCHS, STEPS = 8, 10
t0 = time.perf_counter()
print(f"chance top-1 = {100 / NT:.2f}% | before training top-1 = {top1():.2f}%")
for si, (BS, noise) in enumerate(stages, 1):
    for ep in range(1, EPOCHS + 1):
        tot = 0.0
        for it in range(STEPS):
            key, k0, k1, k2 = mx.random.split(key, 4)
            ids = mx.random.permutation(NT, key=k0)[:BS]
            loss, _ = step(scan(ids, k1, noise), scan(ids, k2, noise), TAU)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            done = it + 1
            bar = "#" * (done * 20 // STEPS)
            sys.stdout.write(f"\rstage {si}/3 B={BS} ep {ep}/{EPOCHS} |{bar:<20}| {done}/{STEPS} nce={loss.item():.3f}")
        sys.stdout.write("\n")
        print(f"  stage {si} ep {ep}: mean nce {tot / STEPS:.4f} (log B={math.log(BS):.3f}) "
              f"top1 {top1():.1f}% lr {opt.learning_rate.item():.2e} [{time.perf_counter() - t0:.1f}s]")
print(f"final top-1 retrieval {top1():.1f}% vs chance {100 / NT:.2f}%")
