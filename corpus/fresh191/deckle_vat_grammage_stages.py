"""Hand papermaking: predict sheet grammage (g/m^2) and tear index (mN*m^2/g) of
vat-formed sheets from pulp furnish and process settings. Two stages:
  stage "gsm"  - only the trunk + grammage head train (tear head frozen on purpose)
  stage "both" - tear head unfrozen, joint loss (so the logged total jumps up first)
Each stage restarts its own step counter and warms the LR up from exactly 0.
Logs are JSON lines."""
import json
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(191)
N_TR, N_VA = 3000, 600


def make_sheets(n):
    beat_min = mx.random.uniform(10, 90, (n,))          # beating time, minutes
    consistency = mx.random.uniform(0.3, 1.2, (n,))     # vat consistency, %
    dips = mx.random.randint(1, 4, (n,)).astype(mx.float32)
    cotton = mx.random.uniform(0, 1, (n,))              # cotton share vs abaca
    sizing = mx.random.uniform(0, 3, (n,))              # gelatin sizing, %
    press_kpa = mx.random.uniform(50, 400, (n,))
    gsm = 18 * consistency * dips + 6 * cotton + 0.8 * sizing + mx.random.normal((n,)) * 1.5
    tear = (14 - 4 * cotton) * mx.exp(-((beat_min - 35) / 40) ** 2) + 0.004 * press_kpa \
        - 0.02 * gsm * (cotton - 0.5) + mx.random.normal((n,)) * 0.4
    X = mx.stack([beat_min / 90, consistency, dips / 3, cotton, sizing / 3, press_kpa / 400], axis=1)
    return X, gsm, tear


Xtr, Gtr, Ttr = make_sheets(N_TR)
Xva, Gva, Tva = make_sheets(N_VA)
g_mu, g_sd = Gtr.mean(), Gtr.std()
t_mu, t_sd = Ttr.mean(), Ttr.std()


class SheetNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.gsm_head = nn.Linear(64, 1)
        self.tear_head = nn.Sequential(nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 1))

    def __call__(self, x):
        h = self.trunk(x)
        return self.gsm_head(h).squeeze(-1), self.tear_head(h).squeeze(-1)


def losses(model, x, g, t):
    pg, pt = model(x)
    lg = mx.mean((pg - (g - g_mu) / g_sd) ** 2)
    lt = mx.mean((pt - (t - t_mu) / t_sd) ** 2)
    return lg, lt


def stage_loss(w_tear):
    def fn(model, x, g, t):
        lg, lt = losses(model, x, g, t)
        return lg + w_tear * lt, (lg, lt)
    return fn


model = SheetNet()
model.tear_head.freeze()

# baseline: predict the training mean -> normalised MSE ~1.0 per target
base_g = (mx.mean((Gva - g_mu) ** 2) / g_sd ** 2).item()
base_t = (mx.mean((Tva - t_mu) ** 2) / t_sd ** 2).item()

STAGES = [("gsm", 0.0, 500, 3e-4), ("both", 1.0, 900, 2e-4)]
BS = 100
for name, w_tear, steps, peak in STAGES:
    if name == "both":
        model.tear_head.unfreeze()
    warm = 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm],
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
    vg = nn.value_and_grad(model, stage_loss(w_tear))
    n_trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(json.dumps({"event": "stage_start", "stage": name, "trainable": n_trainable,
                      "lr0": sched(mx.array(0)).item()}))
    perm = mx.random.permutation(N_TR)
    for step in range(steps):
        i = (step * BS) % N_TR
        idx = perm[i:i + BS]
        (tot, (lg, lt)), grads = vg(model, Xtr[idx], Gtr[idx], Ttr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, tot, lg, lt)
        if step % 100 == 0 or step == steps - 1:
            vg_l, vt_l = losses(model, Xva, Gva, Tva)
            gnorm = mx.sqrt(sum(mx.sum(v * v) for _, v in tree_flatten(grads))).item()
            rmse_g = (vg_l.sqrt() * g_sd).item()
            print(json.dumps({
                "stage": name, "step": step, "lr": round(opt.learning_rate.item(), 7),
                "train_total": round(tot.item(), 4), "val_gsm_nmse": round(vg_l.item(), 4),
                "val_tear_nmse": round(vt_l.item(), 4), "baseline_gsm": round(base_g, 3),
                "baseline_tear": round(base_t, 3), "gsm_rmse_g_m2": round(rmse_g, 2),
                "grad_norm": round(gnorm, 4)}))

vg_l, vt_l = losses(model, Xva, Gva, Tva)
print(json.dumps({"event": "final", "val_gsm_nmse": round(vg_l.item(), 4),
                  "val_tear_nmse": round(vt_l.item(), 4),
                  "tear_r2_pct": round(100 * (1 - vt_l.item() / base_t), 1)}))
