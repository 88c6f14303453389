# Solar field: mirror soiling loss (%) for 40 heliostats x 30 days x 12 hours,
# only 25% of cells read by the cleaning crew. Fit a rank-4 CP model
# T[i,d,h] ~ sum_r a_ir b_dr c_hr + mean on the observed cells, checkpoint at
# step 600, reload into fresh objects and continue; score held-out cells.
import os, time, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
I, D, H, R_TRUE, R = 40, 30, 12, 3, 4
A0 = rng.gamma(2.0, 0.5, size=(I, R_TRUE))
B0 = np.cumsum(rng.gamma(1.0, 0.15, size=(D, R_TRUE)), axis=0)
C0 = 1 + 0.5 * np.sin(np.linspace(0, np.pi, H))[:, None] * rng.random((1, R_TRUE))
T = np.einsum("ir,dr,hr->idh", A0, B0, C0)
NOISE = 0.25
Y = T + NOISE * rng.normal(size=T.shape)
obs = rng.random(T.shape) < 0.25
cells = np.argwhere(obs); hold = np.argwhere(~obs)
rng.shuffle(hold); hold = hold[:3000]
tr_idx = mx.array(cells.astype(np.int32)); tr_y = mx.array(Y[obs].astype(np.float32))
ho_idx = mx.array(hold.astype(np.int32)); ho_y = mx.array(Y[tuple(hold.T)].astype(np.float32))
print(f"observed cells {len(cells)}, held-out cells {len(hold)}, reading noise sd {NOISE}")
print(f"predict-the-mean baseline held-out RMSE {np.sqrt(((Y[tuple(hold.T)] - Y[obs].mean())**2).mean()):.3f}")

class CP(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = 0.3 * mx.random.normal((I, R))
        self.b = 0.3 * mx.random.normal((D, R))
        self.c = 0.3 * mx.random.normal((H, R))
        self.mean = mx.zeros((1,))
    def __call__(self, idx):
        return (self.a[idx[:, 0]] * self.b[idx[:, 1]] * self.c[idx[:, 2]]).sum(-1) + self.mean

def loss_fn(m, idx, y):
    return ((m(idx) - y) ** 2).mean() + 1e-4 * sum((p ** 2).sum() for p in (m.a, m.b, m.c))

def rmse(m, idx, y):
    return mx.sqrt(((m(idx) - y) ** 2).mean()).item()

def make_opt():
    return optim.Adam(learning_rate=optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-2, 50), optim.exponential_decay(2e-2, 0.999)], [50]))

def run(m, opt, start, stop, every):
    vg = nn.value_and_grad(m, loss_fn)
    for s in range(start, stop + 1):
        l, g = vg(m, tr_idx, tr_y)
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state)
        if s % every == 0:
            print(f"step {s:5d} lr {opt.learning_rate.item():.2e} train_mse {l.item():.4f} "
                  f"heldout_rmse {rmse(m, ho_idx, ho_y):.4f}")

t0 = time.time()
mx.random.seed(3)
model, opt = CP(), make_opt()
run(model, opt, 1, 600, 100)
ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "cp.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
ref = loss_fn(model, tr_idx, tr_y).item()
print(f"checkpoint written at step 600 (train objective {ref:.5f})")
del model, opt
model, opt = CP(), make_opt()
model.load_weights(os.path.join(ck, "cp.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
print(f"resumed: objective {loss_fn(model, tr_idx, tr_y).item():.5f}, optimizer step {int(opt.state['step'].item())}")
run(model, opt, 601, 2400, 300)
print(f"final held-out RMSE {rmse(model, ho_idx, ho_y):.4f} (noise floor {NOISE})  ({time.time() - t0:.1f}s)")
