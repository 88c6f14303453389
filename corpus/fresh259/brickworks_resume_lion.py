import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(11)

def make(n):
    clay = rng.uniform(0, 1, (n, 4))
    peak = rng.uniform(950, 1150, (n, 1))
    soak = rng.uniform(1, 8, (n, 1))
    water = rng.uniform(0.12, 0.25, (n, 1))
    x = np.concatenate([clay, (peak - 1050) / 60, (soak - 4.5) / 2, (water - 0.185) / 0.04], 1).astype(np.float32)
    y = (4.0 + 1.8 * clay[:, 0] - 0.9 * clay[:, 2] + 0.012 * (peak[:, 0] - 1050)
         + 0.25 * np.log(soak[:, 0]) + 9.0 * (water[:, 0] - 0.185)
         + 0.6 * clay[:, 1] * clay[:, 3] + rng.normal(0, 0.15, n)).astype(np.float32)
    return x, y

xtr, ytr = make(8000); xva, yva = make(1500)
Xv, Yv = mx.array(xva), mx.array(yva)

def build():
    return nn.Sequential(nn.Linear(7, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x).squeeze(-1), y, delta=0.5, reduction="mean")

def val(m):
    p = m(Xv).squeeze(-1)
    return math.sqrt(mx.mean((p - Yv) ** 2).item())

def run(m, opt, steps, start, tag, t0):
    vg = nn.value_and_grad(m, loss_fn)
    ema = None
    for s in range(start + 1, start + steps + 1):
        idx = mx.array(rng.integers(0, len(ytr), 96))
        l, g = vg(m, mx.array(xtr)[idx], mx.array(ytr)[idx])
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state)
        ema = l.item() if ema is None else 0.9 * ema + 0.1 * l.item()
        if s % 200 == 0:
            print(f"[{tag}] step {s:4d}  lr {opt.learning_rate.item():.2e}  huber {ema:.4f}  val_rmse {val(m):.3f} %  t {time.time()-t0:4.1f}s")

print(f"brickworks: firing shrinkage model, {len(ytr)} train / {len(yva)} val briquettes")
print(f"brickworks: predict-mean val_rmse {float(np.sqrt(np.mean((yva - ytr.mean())**2))):.3f} %  noise sd 0.150 %")

t0 = time.time()
mx.random.seed(3)
model = build()
sched = optim.exponential_decay(3e-4, 0.9993)
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
mx.eval(model.parameters())
print(f"[kiln-1] untrained val_rmse {val(model):.3f} %")
run(model, opt, 1200, 0, "kiln-1", t0)

ck = tempfile.mkdtemp()
wpath = os.path.join(ck, "weights.safetensors")
spath = os.path.join(ck, "opt.safetensors")
mx.save_safetensors(wpath, dict(tree_flatten(tree_map(lambda a: a.astype(mx.bfloat16), model.parameters()))))
mx.save_safetensors(spath, dict(tree_flatten(opt.state)))
before = val(model)
print(f"[ckpt] weights stored as bfloat16, optimizer state float32, step {opt.state['step'].item()}, val_rmse before save {before:.3f} %")

model2 = build()
w = mx.load(wpath)
model2.update(tree_unflatten([(k, v.astype(mx.float32)) for k, v in w.items()]))
opt2 = optim.Lion(learning_rate=sched, weight_decay=1e-3)
opt2.state = tree_unflatten(list(mx.load(spath).items()))
mx.eval(model2.parameters())
print(f"[ckpt] reloaded into fresh float32 model: val_rmse {val(model2):.3f} % (bf16 rounding), lr resumes at {opt2.learning_rate.item():.2e}")
run(model2, opt2, 1200, 1200, "kiln-2", t0)
print(f"done: val_rmse {val(model2):.3f} % after 2400 steps, dtype {model2.layers[0].weight.dtype}")
