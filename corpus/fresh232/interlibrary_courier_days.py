import math, os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_BR, N_CO, N_TR, N_VAL = 14, 3, 8000, 2000
N = N_TR + N_VAL
origin = rng.integers(0, N_BR, N)
dest = rng.integers(0, N_BR, N)
courier = rng.integers(0, N_CO, N)
weekday = rng.integers(0, 7, N)
pages = rng.lognormal(5.5, 0.6, N)
km = rng.gamma(3.0, 40.0, N)
holds = rng.poisson(2.0, N).astype(np.float64)
br_eff = rng.normal(0, 0.35, N_BR)
co_eff = np.array([0.0, 0.25, -0.2])
wd_eff = np.array([0.0, 0.0, 0.05, 0.1, 0.35, 0.5, 0.3])
log_rate = (0.6 + br_eff[origin] + 0.7 * br_eff[dest] + co_eff[courier] + wd_eff[weekday]
            + 0.004 * km + 0.08 * np.log(pages) + 0.05 * holds)
days = rng.poisson(np.exp(log_rate)).astype(np.float32)

num = np.stack([np.log(pages), km, holds], 1)
mu, sd = num[:N_TR].mean(0), num[:N_TR].std(0)
num = ((num - mu) / sd).astype(np.float32)
cats = np.stack([origin, dest, courier, weekday], 1).astype(np.int32)
tr, va = slice(0, N_TR), slice(N_TR, N)


class CourierModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.e_origin = nn.Embedding(N_BR, 4)
        self.e_dest = nn.Embedding(N_BR, 4)
        self.e_courier = nn.Embedding(N_CO, 2)
        self.e_day = nn.Embedding(7, 3)
        self.l1 = nn.Linear(4 + 4 + 2 + 3 + 3, 32)
        self.l2 = nn.Linear(32, 1)

    def __call__(self, c, x):
        h = mx.concatenate([self.e_origin(c[:, 0]), self.e_dest(c[:, 1]),
                            self.e_courier(c[:, 2]), self.e_day(c[:, 3]), x], axis=1)
        return self.l2(nn.silu(self.l1(h))).squeeze(-1)


def loss_fn(model, c, x, y):
    eta = model(c, x)
    return mx.mean(mx.exp(eta) - y * eta)


def mae(model, sl):
    pred = mx.exp(model(mx.array(cats[sl]), mx.array(num[sl])))
    return mx.mean(mx.abs(pred - mx.array(days[sl]))).item()


EPOCHS, BS, WARM, PEAK = 14, 128, 200, 3e-3
steps_per = N_TR // BS
total = EPOCHS * steps_per
sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM),
                              optim.cosine_decay(PEAK, total - WARM, 1e-4)], [WARM])


def make():
    m = CourierModel()
    o = optim.Adam(learning_rate=sched)
    return m, o


mx.random.seed(0)
model, opt = make()
grad_fn = nn.value_and_grad(model, loss_fn)

yv = days[va]
print(f"baseline global-mean MAE   {np.abs(yv - days[tr].mean()).mean():.3f}")
dmean = np.array([days[tr][dest[tr] == b].mean() for b in range(N_BR)])
print(f"baseline per-dest-mean MAE {np.abs(yv - dmean[dest[va]]).mean():.3f}")
print(f"oracle (true rate) MAE     {np.abs(yv - np.exp(log_rate[va])).mean():.3f}")

ckpt = os.path.join(tempfile.mkdtemp(), "courier")
RESUME_AT = 6
ep = 0
while ep < EPOCHS:
    perm = np.random.default_rng(100 + ep).permutation(N_TR)
    tot = 0.0
    for i in range(steps_per):
        idx = perm[i * BS:(i + 1) * BS]
        l, g = grad_fn(model, mx.array(cats[idx]), mx.array(num[idx]), mx.array(days[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l)
        tot += l.item()
    ep += 1
    lr = opt.learning_rate.item()
    print(f"epoch {ep:2d} lr {lr:.2e} train_poisson_nll {tot / steps_per:+.4f} val_MAE {mae(model, va):.3f}")
    if ep == RESUME_AT:
        model.save_weights(ckpt + ".safetensors")
        mx.save_safetensors(ckpt + "_opt.safetensors", dict(tree_flatten(opt.state)))
        print(f"checkpoint written after epoch {ep}; restarting process state from disk")
        model, opt = make()
        model.load_weights(ckpt + ".safetensors")
        from mlx.utils import tree_unflatten
        opt.state = tree_unflatten(list(mx.load(ckpt + "_opt.safetensors").items()))
        grad_fn = nn.value_and_grad(model, loss_fn)
        print(f"resumed: step {opt.step.item()} lr {opt.learning_rate.item():.2e} val_MAE {mae(model, va):.3f}")

print(f"final val_MAE {mae(model, va):.3f}")
