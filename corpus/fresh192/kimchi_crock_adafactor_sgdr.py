# Kimchi crock acidity model: predict pH and titratable acidity (TA %) after N days
# from salt %, cellar temperature, days, garlic and chili dose.  Adafactor with
# SGDR warm restarts (cycle 12 -> 24 -> 48 epochs), softsign with a hand-written VJP.
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)


def brew(n):
    salt = mx.random.uniform(1.5, 3.5, (n,))
    temp = mx.random.uniform(4.0, 20.0, (n,))
    days = mx.random.uniform(0.0, 21.0, (n,))
    garlic = mx.random.uniform(0.0, 30.0, (n,))
    chili = mx.random.uniform(0.0, 40.0, (n,))
    k = 0.05 * mx.exp(0.09 * (temp - 4.0)) * (2.5 / salt) * (1.0 + 0.006 * garlic)
    prog = 1.0 - mx.exp(-k * days)
    ph = 6.2 - 2.2 * prog - 0.004 * chili + 0.05 * mx.random.normal((n,))
    ta = 0.1 + 0.85 * prog + 0.03 * mx.random.normal((n,))
    x = mx.stack([salt, temp, days, garlic, chili], axis=1)
    y = mx.stack([ph, ta], axis=1)
    return x, y


xtr, ytr = brew(1200)
xva, yva = brew(300)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(0), ytr.std(0)
norm = lambda x: (x - mu) / sd


@mx.custom_function
def softsign(x):
    return x / (1.0 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals  # single input: primals is the array itself
    return (cotangent / mx.square(1.0 + mx.abs(x)),)


class Crock(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 2)

    def __call__(self, x):
        h = softsign(self.l1(x))
        h = softsign(self.l2(h)) * 2.0
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), (y - ymu) / ysd, delta=1.0, reduction="mean")


# audit the hand-written VJP against a central difference
xs = mx.array([-2.0, -0.3, 0.0, 0.7, 3.0])
g = mx.grad(lambda v: softsign(v).sum())(xs)
eps = 1e-3
fd = (xs + eps) / (1 + mx.abs(xs + eps)) - (xs - eps) / (1 + mx.abs(xs - eps))
print(json.dumps({"audit": "softsign_vjp", "max_abs_diff": round(mx.abs(g - fd / (2 * eps)).max().item(), 6)}))

model = Crock()
mx.eval(model.parameters())
opt = optim.Adafactor(learning_rate=0.0, relative_step=False, scale_parameter=False)
step_fn = nn.value_and_grad(model, loss_fn)

_, g0 = step_fn(model, norm(xtr[:64]), ytr[:64])
gn = {k: round(mx.linalg.norm(v).item(), 4) for k, v in tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms_step0", "min": min(gn.values()), "tensors": len(gn)}))

base_mae = mx.abs(yva - ytr.mean(0)).mean(0)
BATCH, LR_MAX, LR_MIN = 64, 0.02, 0.0
cycles = [12, 24, 48]
epoch = 0
for c, T in enumerate(cycles):
    for e in range(T):
        perm = mx.random.permutation(xtr.shape[0])
        nb = xtr.shape[0] // BATCH
        run = 0.0
        for b in range(nb):
            t = (e + b / nb) / T
            opt.learning_rate = LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t))
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step_fn(model, norm(xtr[idx]), ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        epoch += 1
        if e % 4 == 0 or e == T - 1:
            pred = model(norm(xva)) * ysd + ymu
            mae = mx.abs(pred - yva).mean(0)
            print(json.dumps({
                "cycle": c, "ep": e, "global_ep": epoch,
                "lr": round(opt.learning_rate.item(), 5),
                "huber": round(run / nb, 4),
                "pH_mae": round(mae[0].item(), 4), "pH_mae_mean_guess": round(base_mae[0].item(), 4),
                "TA_mae_pct": round(mae[1].item(), 4), "TA_mae_mean_guess": round(base_mae[1].item(), 4),
            }))
pred = model(norm(xva)) * ysd + ymu
print(json.dumps({"final": True, "pH_rmse": round(mx.sqrt(mx.square(pred - yva)[:, 0].mean()).item(), 4),
                  "TA_rmse_pct": round(mx.sqrt(mx.square(pred - yva)[:, 1].mean()).item(), 4)}))
