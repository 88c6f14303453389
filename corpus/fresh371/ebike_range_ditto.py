"""E-bike range on riders' phones: a shared model plus one personal model per rider.

Ditto-style training.  Every round a few phones are online; each one
(1) trains a copy of the shared model on its own trips and sends back the
change, and (2) takes a few steps on its own personal model, which is pulled
towards the current shared model by a proximal term.  The shared model is the
trip-weighted average of the returned copies.  The phone learning rate runs in
two cosine cycles (the second starts at round 13).  Errors are in km.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 3
N_RIDERS = 10
ONLINE = 4
ROUNDS = 24
CYCLE = 12
LR_MAX, LR_MIN = 0.05, 0.005
LOCAL_STEPS = 25
PERSONAL_STEPS = 25
LAM = 0.5
BATCH = 32

rng = np.random.default_rng(SEED)
W_TRUE = np.array([-9.0, 6.0, -4.0, 3.0, -2.5, 1.5])


def make_rider(r):
    n = int(r.integers(60, 400))
    mass_bias = r.normal(0, 4.0)          # rider weight / style offset (km)
    hill_sens = r.normal(1.0, 0.35)       # how much hills hurt this rider
    def sample(m):
        x = r.normal(0, 1, size=(m, 6)).astype(np.float32)
        y = 45.0 + x @ W_TRUE + mass_bias + 3.0 * hill_sens * np.tanh(x[:, 0]) * x[:, 1]
        y += r.normal(0, 2.0, size=m)
        return x, y.astype(np.float32)[:, None]
    tr, te = sample(n), sample(80)
    return dict(train=tr, test=te, n=n)


riders = [make_rider(rng) for _ in range(N_RIDERS)]
Y_MEAN = float(np.concatenate([r["train"][1] for r in riders]).mean())
Y_STD = float(np.concatenate([r["train"][1] for r in riders]).std())


class RangeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return Y_MEAN + Y_STD * self.out(h)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x) / Y_STD, y / Y_STD)


def copy_into(dst, src_params):
    dst.update(tree_map(lambda a: mx.array(a), src_params))
    mx.eval(dst.parameters())


def rmse(model, x, y):
    return float(mx.sqrt(nn.losses.mse_loss(model(mx.array(x)), mx.array(y))).item())


def phone_lr(rnd):
    t = (rnd % CYCLE) / CYCLE
    return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + np.cos(np.pi * t))


def local_shared_update(global_params, rider, lr, r):
    m = RangeNet()
    copy_into(m, global_params)
    opt = optim.SGD(learning_rate=lr, momentum=0.9)
    step = nn.value_and_grad(m, mse)
    x, y = rider["train"]
    for _ in range(LOCAL_STEPS):
        b = r.integers(0, len(y), size=BATCH)
        _, g = step(m, mx.array(x[b]), mx.array(y[b]))
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state)
    return m.parameters()


def personal_update(pmodel, popt, global_params, rider, r):
    def objective(model, x, y):
        fit = mse(model, x, y)
        prox = sum(mx.sum((a - b) ** 2) for (_, a), (_, b) in
                   zip(tree_flatten(model.parameters()), tree_flatten(global_params)))
        return fit + 0.5 * LAM * prox, fit
    step = nn.value_and_grad(pmodel, lambda m, x, y: objective(m, x, y)[0])
    x, y = rider["train"]
    for _ in range(PERSONAL_STEPS):
        b = r.integers(0, len(y), size=BATCH)
        _, g = step(pmodel, mx.array(x[b]), mx.array(y[b]))
        popt.update(pmodel, g)
        mx.eval(pmodel.parameters(), popt.state)
    total, fit = objective(pmodel, mx.array(x), mx.array(y))
    return float(total.item()), float(fit.item())


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    shared = RangeNet()
    mx.eval(shared.parameters())
    personal = []
    for _ in riders:
        p = RangeNet()
        copy_into(p, shared.parameters())
        personal.append((p, optim.Adam(learning_rate=3e-3)))

    sizes = [r["n"] for r in riders]
    print(f"riders {N_RIDERS}, trips per rider {min(sizes)}..{max(sizes)}, "
          f"{ONLINE} phones online per round, lambda {LAM}")
    xs = np.concatenate([r["test"][0] for r in riders])
    ys = np.concatenate([r["test"][1] for r in riders])
    print(f"baseline: predict the mean -> test rmse {float(np.sqrt(((ys - Y_MEAN) ** 2).mean())):.2f} km; "
          f"trip noise floor 2.00 km")
    print("rmse in km; personal_obj and prox_part in standardised units")
    print("round  lr      online        shared_rmse  personal_rmse  personal_obj  prox_part")
    r_sched = np.random.default_rng(SEED + 1)
    for rnd in range(ROUNDS):
        lr = phone_lr(rnd)
        online = r_sched.choice(N_RIDERS, size=ONLINE, replace=False)
        gp = shared.parameters()
        new_params, weights, objs, fits = [], [], [], []
        for i in online:
            new_params.append(local_shared_update(gp, riders[i], lr, r_sched))
            weights.append(riders[i]["n"])
            p, popt = personal[i]
            tot, fit = personal_update(p, popt, gp, riders[i], r_sched)
            objs.append(tot)
            fits.append(fit)
        w = np.array(weights, dtype=np.float32) / sum(weights)
        avg = tree_map(lambda *leaves: sum(float(wi) * l for wi, l in zip(w, leaves)), *new_params)
        shared.update(avg)
        mx.eval(shared.parameters())
        if rnd in (0, 1, 2, 5, 11, 12, 13, 17, 23):
            s_rmse = rmse(shared, xs, ys)
            p_rmse = float(np.sqrt(np.mean([rmse(personal[i][0], *riders[i]["test"]) ** 2
                                            for i in range(N_RIDERS)])))
            tag = "  (lr restart)" if rnd == CYCLE else ""
            print(f"{rnd:5d}  {lr:.4f}  {str(sorted(online.tolist())):12s}  {s_rmse:11.2f}  "
                  f"{p_rmse:13.2f}  {np.mean(objs):12.2f}  {np.mean(objs) - np.mean(fits):9.2f}{tag}")

    # comparison: each rider alone on its own trips
    print("rider  trips  shared  personal  alone")
    alone_all, pers_all, sh_all = [], [], []
    for i, rd in enumerate(riders):
        m = RangeNet()
        mx.eval(m.parameters())
        opt = optim.Adam(learning_rate=3e-3)
        step = nn.value_and_grad(m, mse)
        x, y = rd["train"]
        rr = np.random.default_rng(50 + i)
        for _ in range(300):
            b = rr.integers(0, len(y), size=BATCH)
            _, g = step(m, mx.array(x[b]), mx.array(y[b]))
            opt.update(m, g)
            mx.eval(m.parameters(), opt.state)
        a = rmse(m, *rd["test"])
        s = rmse(shared, *rd["test"])
        p = rmse(personal[i][0], *rd["test"])
        alone_all.append(a); pers_all.append(p); sh_all.append(s)
        print(f"{i:5d}  {rd['n']:5d}  {s:6.2f}  {p:8.2f}  {a:5.2f}")
    print(f"mean rmse km: shared {np.mean(sh_all):.2f}  personal {np.mean(pers_all):.2f}  "
          f"alone {np.mean(alone_all):.2f}   ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
