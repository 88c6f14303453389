# Saltmarsh restoration survey: sediment accretion (mm/yr) from site readings.
# Data-parallel layout: each process keeps its slice of the plots and gradients
# are averaged over the group (a group of one when run with plain python).
import os, tempfile
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

world = mx.distributed.init()
rank, size = world.rank(), world.size()

mx.random.seed(7)
N = 3000
feats = mx.random.uniform(shape=(N, 7))  # elevation, tide range, veg cover, grain, creek dist, salinity, storm days
w = mx.array([-2.1, 1.4, 1.8, -0.9, -1.2, 0.3, 0.8])
y = 4.0 + feats @ w + 0.9 * mx.sin(3.0 * feats[:, 0] * feats[:, 2]) + 0.25 * mx.random.normal((N,))
xtr, ytr = feats[:2400], y[:2400]
xva, yva = feats[2400:], y[2400:]
xtr, ytr = xtr[rank::size], ytr[rank::size]

class Accretion(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)
    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)

def loss_fn(model, x, t):
    return nn.losses.mse_loss(model(x), t)

TOTAL, HALF, BS = 600, 300, 64
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 60),
                              optim.cosine_decay(3e-3, TOTAL - 60, 1e-4)], [60])

def make():
    m = Accretion()
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    return m, o

def run(model, opt, start, stop):
    vg = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    for step in range(start, stop):
        idx = mx.random.randint(0, n, (BS,), key=mx.random.key(1000 + step))
        loss, g = vg(model, xtr[idx], ytr[idx])
        g = nn.average_gradients(g)
        opt.update(model, g)
        loss = mx.distributed.all_sum(loss) / size
        mx.eval(model.parameters(), opt.state, loss)
        if rank == 0 and (step % 50 == 0 or step == stop - 1):
            va = loss_fn(model, xva, yva).item()
            print(f"step {step:4d} lr {opt.learning_rate.item():.5f} train_mse {loss.item():.4f} val_mse {va:.4f}")

base = mx.mean((yva - mx.mean(ytr)) ** 2).item()
if rank == 0:
    print(f"ranks {size}  plots per rank {xtr.shape[0]}  baseline (predict mean) val_mse {base:.4f}")

model, opt = make()
mx.eval(model.parameters())
run(model, opt, 0, HALF)
ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "w.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
if rank == 0:
    print(f"checkpoint written at step {HALF}; reloading into a fresh model")

from mlx.utils import tree_unflatten
model2, opt2 = make()
model2.load_weights(os.path.join(ck, "w.safetensors"))
opt2.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
mx.eval(model2.parameters(), opt2.state)
run(model2, opt2, HALF, TOTAL)

final = loss_fn(model2, xva, yva).item()
if rank == 0:
    print(f"final val_mse {final:.4f} vs baseline {base:.4f} (ratio {final / base:.3f})")
