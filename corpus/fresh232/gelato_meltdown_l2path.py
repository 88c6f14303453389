"""Ice-cream meltdown: minutes until the first drip of a scoop at 25 C.

Small pilot-plant data set (280 batches, 14 recipe/process readings, several
of which do nothing), a wide SiLU network, and an L2 penalty path: the penalty
on the weight matrices (biases are never penalised) is raised stage by stage,
each stage warm-started from the previous one with a fresh RMSprop state and a
step counter that starts again at 0.  The reported objective includes the
current penalty, so it goes up from stage to stage on purpose.

Every report is an RFC 5424 style syslog line with a structured-data block.
"""
import os
import socket
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

HOST = socket.gethostname() or "pilot"
PID = os.getpid()


def syslog(severity, msgid, sd, msg=""):
    pri = 8 * 1 + severity            # facility user
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    params = " ".join(f'{k}="{v}"' for k, v in sd)
    print(f"<{pri}>1 {stamp} {HOST} gelato-fit {PID} {msgid} "
          f"[run@32473 {params}] {msg}".rstrip(), flush=True)


def make_batches(rng, n):
    fat = rng.uniform(6.0, 16.0, n)
    overrun = rng.uniform(25.0, 100.0, n)
    stab = rng.uniform(0.0, 0.5, n)          # stabiliser %
    sugar = rng.uniform(12.0, 22.0, n)
    msnf = rng.uniform(7.0, 12.0, n)
    draw_t = rng.uniform(-7.0, -4.0, n)
    age_h = rng.uniform(2.0, 24.0, n)
    harden_h = rng.uniform(4.0, 48.0, n)
    noise_cols = rng.normal(0.0, 1.0, (n, 6))   # unrelated plant readings
    mins = (8.0 + 0.55 * fat + 0.06 * overrun + 22.0 * stab
            - 0.35 * (sugar - 17.0) + 0.4 * (msnf - 9.5)
            - 1.2 * (draw_t + 5.5) + 2.0 * np.log(age_h)
            + 0.03 * harden_h + 6.0 * stab * (overrun / 100.0) ** 2
            + 1.5 * np.tanh((fat - 11.0) / 2.0))
    mins = mins + rng.normal(0.0, 1.2, n)
    X = np.column_stack([fat, overrun, stab, sugar, msnf, draw_t, age_h,
                         harden_h, noise_cols])
    return X.astype(np.float32), mins.astype(np.float32)


class Meltdown(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def weight_sq(params):
    return sum(mx.sum(v * v) for k, v in tree_flatten(params)
               if k.endswith("weight"))


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    Xtr, ytr = make_batches(rng, 280)
    Xva, yva = make_batches(rng, 1500)
    Xte, yte = make_batches(rng, 1500)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    xtr, ttr = mx.array((Xtr - mu) / sd), mx.array((ytr - ymu) / ysd)
    xva, xte = mx.array((Xva - mu) / sd), mx.array((Xte - mu) / sd)

    def rmse_min(x, y):
        return float(np.sqrt(np.mean((np.array(model(x)) * ysd + ymu - y) ** 2)))

    baseline = float(np.sqrt(np.mean((yva - ymu) ** 2)))
    syslog(6, "DATA", [("train", 280), ("valid", 1500), ("test", 1500),
                       ("features", Xtr.shape[1]),
                       ("meanpred_rmse_min", f"{baseline:.3f}"),
                       ("noise_sd_min", "1.200")])

    model = Meltdown(Xtr.shape[1])
    mx.eval(model.parameters())

    lam_holder = {"lam": 0.0}

    def objective(m, x, y):
        fit = nn.losses.mse_loss(m(x), y)
        pen = lam_holder["lam"] * weight_sq(m.parameters())
        return fit + pen, (fit, pen)

    def loss_only(m, x, y):
        total, _ = objective(m, x, y)
        return total

    lg = nn.value_and_grad(model, loss_only)
    path = [0.0, 1e-4, 1e-3, 1e-2, 5e-2]
    steps = 300
    results = []
    for stage, lam in enumerate(path):
        lam_holder["lam"] = lam
        opt = optim.RMSprop(learning_rate=1e-3, alpha=0.95)
        t0 = time.time()
        for step in range(steps):
            total, grads = lg(model, xtr, ttr)
            if stage == 0 and step == 0:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                syslog(6 if not dead else 3, "GRADCHECK",
                       [("leaves", len(flat)), ("zero_leaves", len(dead))])
                if dead:
                    raise SystemExit(1)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, total)
            if step % 75 == 0 or step == steps - 1:
                total, (fit, pen) = objective(model, xtr, ttr)
                wnorm = float(weight_sq(model.parameters())) ** 0.5
                syslog(7, "STEP",
                       [("stage", stage), ("lambda", f"{lam:g}"),
                        ("step", step), ("objective", f"{float(total):.4f}"),
                        ("fit_mse_z", f"{float(fit):.4f}"),
                        ("penalty", f"{float(pen):.4f}"),
                        ("w_norm", f"{wnorm:.2f}"),
                        ("valid_rmse_min", f"{rmse_min(xva, yva):.3f}")])
        v = rmse_min(xva, yva)
        tr = rmse_min(xtr, ytr)
        results.append((lam, v, {k: np.array(p) for k, p in
                                 tree_flatten(model.parameters())}))
        syslog(5, "STAGE", [("stage", stage), ("lambda", f"{lam:g}"),
                            ("train_rmse_min", f"{tr:.3f}"),
                            ("valid_rmse_min", f"{v:.3f}"),
                            ("secs", f"{time.time() - t0:.1f}")])

    best_lam, best_v, best_params = min(results, key=lambda r: r[1])
    model.load_weights([(k, mx.array(p)) for k, p in best_params.items()])
    syslog(5, "SELECT", [("lambda", f"{best_lam:g}"),
                         ("valid_rmse_min", f"{best_v:.3f}"),
                         ("test_rmse_min", f"{rmse_min(xte, yte):.3f}"),
                         ("meanpred_rmse_min", f"{baseline:.3f}")],
           "weights restored from selected stage")


if __name__ == "__main__":
    main()
