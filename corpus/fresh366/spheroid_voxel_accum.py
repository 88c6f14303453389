import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(11)
S = 8
zz, yy, xx = np.meshgrid(np.arange(S), np.arange(S), np.arange(S), indexing="ij")

def stacks(n, aniso):
    x = np.zeros((n, S, S, S, 2), np.float32)
    m = np.zeros((n, S, S, S), np.float32)
    for i in range(n):
        c = rng.uniform(2, S - 3, size=3); r = rng.uniform(1.4, 2.4)
        d = ((zz - c[0]) * aniso) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2
        m[i] = (d < r * r)
        shell = np.exp(-(np.sqrt(d) - r) ** 2)
        x[i, ..., 0] = 0.9 * m[i] + rng.normal(0, 0.55, (S, S, S))
        x[i, ..., 1] = 0.8 * shell + rng.normal(0, 0.5, (S, S, S))
    return mx.array(x), mx.array(m)

class Tiny3D(nn.Module):
    def __init__(self):
        super().__init__()
        self.e1 = nn.Conv3d(2, 8, 3, padding=1)
        self.down = nn.Conv3d(8, 12, 3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.d1 = nn.Conv3d(20, 8, 3, padding=1)
        self.out = nn.Conv3d(8, 1, 1)
    def __call__(self, x):
        a = nn.relu(self.e1(x))
        b = nn.relu(self.down(a))
        h = nn.relu(self.d1(mx.concatenate([a, self.up(b)], axis=-1)))
        return self.out(h)[..., 0]

def soft_dice(logits, m):
    p = mx.sigmoid(logits)
    inter = (p * m).sum(axis=(1, 2, 3))
    return ((2 * inter + 1.0) / (p.sum(axis=(1, 2, 3)) + m.sum(axis=(1, 2, 3)) + 1.0)).mean()

def objective(model, x, m):
    lg = model(x)
    return nn.losses.binary_cross_entropy(lg, m, reduction="mean") - soft_dice(lg, m)

def hard_dice(pred, m):
    inter = (pred * m).sum(axis=(1, 2, 3))
    return ((2 * inter + 1e-6) / (pred.sum(axis=(1, 2, 3)) + m.sum(axis=(1, 2, 3)) + 1e-6)).mean().item()

model = Tiny3D(); mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, objective)
ACC, MB = 2, 8
t0 = time.time()
for stage, (aniso, steps, peak) in enumerate([(1.0, 110, 0.1), (1.6, 50, 0.03)], 1):
    xtr, mtr = stacks(96, aniso); xva, mva = stacks(48, aniso)
    warm = 20
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                                  optim.step_decay(peak, 0.5, 40)], [warm])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    base = hard_dice((xva[..., 0] > 0.45).astype(mx.float32), mva)
    print(f"== stage {stage}: anisotropy {aniso}  {steps} updates x {ACC} micro-batches  "
          f"intensity-threshold val dice {base:.3f}")
    for step in range(steps):
        acc = None; tot = 0.0
        for _ in range(ACC):
            idx = mx.array(rng.integers(0, len(mtr), size=MB))
            val, g = grad_fn(model, xtr[idx], mtr[idx])
            acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
            tot += val.item()
        opt.update(model, tree_map(lambda a: a / ACC, acc))
        mx.eval(model.parameters(), opt.state)
        if step % 25 == 0 or step == steps - 1:
            vd = hard_dice((mx.sigmoid(model(xva)) > 0.5).astype(mx.float32), mva)
            print(f"  stage {stage} update {step:3d}  lr {opt.learning_rate.item():.4f}  "
                  f"bce-dice {tot / ACC:+.4f}  val dice {vd:.3f}  (threshold {base:.3f})")
print(f"done in {time.time() - t0:.1f}s")
