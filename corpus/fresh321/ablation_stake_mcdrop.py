"""Glacier ablation stakes: daily melt (cm w.e.) from five weather/site readings.

Stage "mean": fit the mean with SGD + momentum (quiet, one summary row).
Stage "spread": add a log-variance head and train the Gaussian NLL with Adam.
Uncertainty at evaluation = MC dropout (30 passes) with a constant evaluation seed,
so repeated evaluations of the same weights print the same numbers.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_TR, N_VA = 5000, 1000


def stakes(key, n):
    kx, ke = mx.random.split(key)
    x = mx.random.normal((n, 5), key=kx)
    temp, rad, alb, wind, elev = [x[:, i] for i in range(5)]
    mean = 2.0 + 1.1 * nn.softplus(temp) + 0.6 * rad * (1 - 0.5 * mx.tanh(alb)) - 0.3 * elev
    sd = 0.15 + 0.35 * mx.sigmoid(1.5 * wind + temp)  # gusty warm days scatter more
    y = mean + sd * mx.random.normal((n,), key=ke)
    return x, y[:, None]


class StakeNet(nn.Module):
    def __init__(self, p=0.1):
        super().__init__()
        self.trunk = [nn.Linear(5, 96), nn.Linear(96, 96)]
        self.mu = nn.Linear(96, 1)
        self.logvar = nn.Linear(96, 1)
        self.drop = nn.Dropout(p)

    def __call__(self, x):
        for layer in self.trunk:
            x = self.drop(nn.silu(layer(x)))
        return self.mu(x), self.logvar(x)


def mse_loss(model, x, y):
    mu, _ = model(x)
    return nn.losses.mse_loss(mu, y)


def nll_loss(model, x, y):
    mu, lv = model(x)
    return nn.losses.gaussian_nll_loss(mu, y, mx.exp(lv), full=True)


def mc_eval(model, x, y, passes=30):
    resume_seed = mx.random.randint(0, 2 ** 31 - 1, ()).item()  # drawn from the training stream
    mx.random.seed(4321)                 # same evaluation draws every time
    model.train()                        # dropout active on purpose (MC dropout)
    mus, vars_ = [], []
    for _ in range(passes):
        mu, lv = model(x)
        mus.append(mu)
        vars_.append(mx.exp(lv))
    model.train()
    mx.random.seed(resume_seed)
    mus = mx.stack(mus)
    mean = mus.mean(0)
    var = mx.stack(vars_).mean(0) + mus.var(0)
    nll = nn.losses.gaussian_nll_loss(mean, y, var, full=True).item()
    z = mx.abs(y - mean) / mx.sqrt(var)
    cover = (z < 1.6449).astype(mx.float32).mean().item() * 100
    rmse = mx.sqrt(((mean - y) ** 2).mean()).item()
    return rmse, nll, cover


def main():
    t0 = time.time()
    k_tr, k_va = mx.random.split(mx.random.key(77))
    x, y = stakes(k_tr, N_TR)
    xv, yv = stakes(k_va, N_VA)
    mx.random.seed(3)
    model = StakeNet()
    model.train()
    mx.eval(model.parameters())

    ref_sd = yv.std().item()
    ref_nll = 0.5 * math.log(2 * math.pi * ref_sd ** 2) + 0.5
    print("stage,step,lr,train_loss,valid_rmse_cm,valid_nll,cover90_pct,secs")
    print(f"reference,0,0,nan,{ref_sd:.4f},{ref_nll:.4f},90.0,0.0")

    # stage "mean": variance head untouched, loss is plain MSE
    model.logvar.freeze()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    step_fn = nn.value_and_grad(model, mse_loss)
    for step in range(1, 801):
        idx = mx.random.randint(0, N_TR, (128,))
        loss, g = step_fn(model, x[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
    r, n, c = mc_eval(model, xv, yv)
    print(f"mean,{step},0.05,{loss.item():.4f},{r:.4f},{n:.4f},{c:.1f},{time.time() - t0:.1f}")

    # stage "spread": everything trains, Gaussian NLL
    model.logvar.unfreeze()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, 100),
                                  optim.cosine_decay(1e-3, 1400, 5e-5)], [100])
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, nll_loss)
    for step in range(1, 1501):
        idx = mx.random.randint(0, N_TR, (128,))
        loss, g = step_fn(model, x[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0:
            r, n, c = mc_eval(model, xv, yv)
            lr = opt.learning_rate.item()
            print(f"spread,{step},{lr:.6f},{loss.item():.4f},{r:.4f},{n:.4f},{c:.1f},{time.time() - t0:.1f}")
    r1, n1, c1 = mc_eval(model, xv, yv)
    r2, n2, c2 = mc_eval(model, xv, yv)
    print(f"repeat_eval,{step},0,nan,{r2:.4f},{n2:.4f},{c2:.1f},{time.time() - t0:.1f}")
    assert (r1, n1, c1) == (r2, n2, c2)


if __name__ == "__main__":
    main()
