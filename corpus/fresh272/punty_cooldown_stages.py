import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

# glass studio: annealing minutes for a blown piece from 6 kiln/piece readings
rng = np.random.default_rng(7)
def make(n, spread):
    x = rng.uniform(-1, 1, size=(n, 6)).astype(np.float32)
    x[:, :2] *= spread  # wall thickness and mass get wider in later stages
    y = 1.5 * x[:, 0] + 0.8 * x[:, 1] ** 2 - 0.6 * x[:, 2] * x[:, 3] + 0.3 * np.sin(3 * x[:, 4])
    y = y + 0.05 * rng.standard_normal(n)
    return mx.array(x), mx.array(y.astype(np.float32)[:, None])

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)
    def __call__(self, x):
        return self.head(self.trunk(x))

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

stages = [("easy", 0.4, 150), ("medium", 0.7, 150), ("full", 1.0, 200)]
xv, yv = make(800, 1.0)
base_mse = mx.mean((yv - yv.mean()) ** 2).item()
print(f"val baseline (predict mean): {base_mse:.4f}")

def run_stage(model, opt, x, y, iters, tag, start):
    step = nn.value_and_grad(model, loss_fn)
    for i in range(iters):
        idx = mx.array(rng.integers(0, x.shape[0], 64))
        l, g = step(model, x[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if (i + 1) % 50 == 0:
            print(f"[{tag}] step {start + i + 1} loss {l.item():.4f} lr {opt.learning_rate.item():.5f}")
    return start + iters

mx.random.seed(0)
model = Net()
mx.eval(model.parameters())
ckdir = tempfile.mkdtemp()
step_no = 0
for k, (name, spread, iters) in enumerate(stages):
    x, y = make(4000, spread)
    if k == 0:
        model.freeze(); model.head.unfreeze(); model.trunk.layers[2].unfreeze()
        sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, iters)], [40])
    else:
        model.unfreeze()
        sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 30), optim.cosine_decay(2e-3, iters)], [30])
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    opt = optim.Adam(learning_rate=sched)
    print(f"stage {name}: spread {spread}, trainable {n_tr}")
    if name == "full":
        half = iters // 2
        step_no = run_stage(model, opt, x, y, half, name, step_no)
        model.save_weights(os.path.join(ckdir, "w.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"checkpoint at step {step_no}; restarting from disk")
        model = Net(); model.load_weights(os.path.join(ckdir, "w.safetensors"))
        opt = optim.Adam(learning_rate=sched)
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        step_no = run_stage(model, opt, x, y, iters - half, name, step_no)
    else:
        step_no = run_stage(model, opt, x, y, iters, name, step_no)
    v = loss_fn(model, xv, yv).item()
    print(f"after {name}: val mse {v:.4f} (baseline {base_mse:.4f}, ratio {v / base_mse:.3f})")
print(f"final val mse {loss_fn(model, xv, yv).item():.4f}")
