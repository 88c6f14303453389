# Tide-pool survey: count sea urchins in quadrat photos by regressing a
# density map (sum of the map = count). Fully convolutional, so it trains
# on 12x12 crops and is evaluated on whole 24x24 quadrats.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3)
mx.random.seed(3)


def render(n, size):
    imgs = np.zeros((n, size, size, 1), np.float32)
    dens = np.zeros((n, size, size, 1), np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    counts = rng.poisson(size * size / 60.0, size=n)
    for i in range(n):
        for _ in range(counts[i]):
            cy, cx = rng.uniform(0, size, 2)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2.0)
            imgs[i, ..., 0] += blob
            dens[i, ..., 0] += blob / blob.sum()
        imgs[i, ..., 0] += rng.normal(0, 0.15, (size, size))
    return mx.array(imgs), mx.array(dens), counts


class DensityNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, padding=1)
        self.c2 = nn.Conv2d(12, 12, 3, padding=1)
        self.out = nn.Conv2d(12, 1, 1)
        self.out.bias = mx.full((1,), -3.0)

    def __call__(self, x):
        x = nn.gelu(self.c1(x))
        x = nn.gelu(self.c2(x))
        return nn.softplus(self.out(x))


def loss_fn(model, x, d):
    pred = model(x)
    pix = ((pred - d) ** 2).mean()
    cnt = ((pred.sum(axis=(1, 2, 3)) - d.sum(axis=(1, 2, 3))) ** 2).mean()
    return 100.0 * pix + 0.05 * cnt


def count_mae(model, x, counts):
    pred = model(x).sum(axis=(1, 2, 3))
    return mx.abs(pred - mx.array(counts.astype(np.float32))).mean().item()


Xtr, Dtr, _ = render(1024, 12)
Xte, Dte, Cte = render(128, 24)
baseline = np.abs(Cte - Cte.mean()).mean()
TOTAL, WARM, HALF = 400, 40, 200
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, WARM), optim.cosine_decay(4e-3, TOTAL - WARM, 1e-4)], [WARM]
)


def build():
    m = DensityNet()
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return m, o


print("phase,step,lr,train_loss,quadrat_count_mae,mean_count_baseline_mae,secs")
model, opt = build()
vg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
ckpt = tempfile.mkdtemp()
step = 0
while step < TOTAL:
    idx = mx.array(rng.integers(0, Xtr.shape[0], 32))
    lr_now = sched(mx.array(step)).item()
    loss, grads = vg(model, Xtr[idx], Dtr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    step += 1
    if step % 50 == 0 or step == 1:
        print(f"train,{step},{lr_now:.5f},{loss.item():.6f},{count_mae(model, Xte, Cte):.3f},{baseline:.3f},{time.time() - t0:.1f}")
    if step == HALF:
        model.save_weights(os.path.join(ckpt, "w.safetensors"))
        mx.save_safetensors(os.path.join(ckpt, "o.safetensors"), dict(tree_flatten(opt.state)))
        del model, opt, vg
        model, opt = build()
        model.load_weights(os.path.join(ckpt, "w.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "o.safetensors")).items()))
        vg = nn.value_and_grad(model, loss_fn)
        print(f"resume,{int(opt.state['step'].item())},{opt.learning_rate.item():.5f},,{count_mae(model, Xte, Cte):.3f},{baseline:.3f},{time.time() - t0:.1f}")

print(f"done,{step},,,{count_mae(model, Xte, Cte):.3f},{baseline:.3f},{time.time() - t0:.1f}")
