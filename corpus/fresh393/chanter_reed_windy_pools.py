"""Bagpipe reed workshop: 3-way reed strength (easy / medium / stiff) from a
48-sample chanter pressure trace. Traces come from two recording pools:
  - bench pool: recorded in the workshop, clean
  - field pool: recorded outdoors, wind noise, gusts and clipped samples
Batches are drawn from one pool at a time on a fixed rota (bench, bench,
field in stage 1; bench, field, field in stage 2), so the per-batch loss
swings between the two pools by design. A small Conv1d net (NLC layout),
Adagrad with a linear warmup that starts at exactly 0, lower rate in stage 2.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
mx.random.seed(3)
T = 48


def traces(n, field):
    cls = rng.integers(0, 3, size=n)
    t = np.arange(T) / T
    f0 = np.array([3.0, 4.0, 5.0])[cls] + rng.normal(0, 0.35, n)
    bright = np.array([0.2, 0.45, 0.7])[cls] + rng.normal(0, 0.08, n)
    ph = rng.uniform(0, 2 * np.pi, n)
    x = np.sin(2 * np.pi * f0[:, None] * t + ph[:, None]) + bright[:, None] * np.sin(
        4 * np.pi * f0[:, None] * t + 2 * ph[:, None])
    x *= rng.uniform(0.7, 1.3, (n, 1))
    if field:
        x += rng.normal(0, 0.9, (n, T))
        gust = rng.random(n) < 0.4
        x += gust[:, None] * rng.normal(0, 1.0, (n, 1)) * np.sin(2 * np.pi * rng.uniform(0.3, 1.2, (n, 1)) * t)
        x = np.clip(x, -1.4, 1.4)
    else:
        x += rng.normal(0, 0.08, (n, T))
    return mx.array(x[..., None].astype(np.float32)), mx.array(cls.astype(np.int32))


bench_x, bench_y = traces(3000, False)
field_x, field_y = traces(3000, True)
vb_x, vb_y = traces(600, False)
vf_x, vf_y = traces(600, True)
maj = max(np.bincount(np.array(vb_y)).max(), np.bincount(np.array(vf_y)).max()) / 600
print(f"bench 3000 / field 3000 training traces, 600 + 600 validation; majority-class rate {maj:.3f}")


class ReedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(8, 16, kernel_size=5, padding=2, stride=2)
        self.c3 = nn.Conv1d(16, 24, kernel_size=3, padding=1, stride=2)
        self.head = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        h = nn.gelu(self.c3(h))
        h = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def acc(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=-1) == y))


model = ReedNet()
mx.eval(model.parameters())
WARM, STEPS = 120, 900
lr = optim.join_schedules([optim.linear_schedule(0.0, 0.05, WARM), lambda s: 0.05, lambda s: 0.02],
                         [WARM, STEPS // 2])
opt = optim.Adagrad(learning_rate=lr)
lg = nn.value_and_grad(model, loss_fn)
pools = {"bench": (bench_x, bench_y), "field": (field_x, field_y)}
rota = {1: ["bench", "bench", "field"], 2: ["bench", "field", "field"]}
ema = {"bench": None, "field": None}
B = 48
srng = np.random.default_rng(5)
t0 = time.perf_counter()
print("step  stage pool   lr        batch loss")
for step in range(STEPS):
    stage = 1 if step < STEPS // 2 else 2
    pool = rota[stage][step % 3]
    px, py = pools[pool]
    idx = mx.array(srng.integers(0, px.shape[0], size=B))
    loss, grads = lg(model, px[idx], py[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    v = loss.item()
    ema[pool] = v if ema[pool] is None else 0.95 * ema[pool] + 0.05 * v
    if step < 12:
        print(f"{step:4d}  {stage}     {pool:6s} {float(lr(step)):.5f}   {v:.4f}")
    elif step == 12:
        print("  (quiet until step 300; warmup continues)")
    elif step >= 300 and step % 150 < 3:
        print(f"{step:4d}  {stage}     {pool:6s} {float(lr(step)):.5f}   {v:.4f}   "
              f"ema bench {ema['bench']:.4f}  ema field {ema['field']:.4f}")
    if step == STEPS // 2 - 1 or step == STEPS - 1:
        print(f"  -- end of stage {stage}: val acc bench {acc(model, vb_x, vb_y):.3f}  "
              f"field {acc(model, vf_x, vf_y):.3f}  (majority {maj:.3f})  "
              f"val loss bench {loss_fn(model, vb_x, vb_y).item():.4f}  field {loss_fn(model, vf_x, vf_y).item():.4f}")
print(f"done in {time.perf_counter() - t0:.1f}s")
