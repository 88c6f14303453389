"""Stained-glass studio: kiln firing outcomes for vitreous glass paint.

Two tasks on one trunk (paint fusing score in %, firing fault class), weighted by
the inverse of their initial losses, plus a probe that reads glass thickness from
DETACHED trunk features (it must not shape the trunk). Stage 2 adds hard,
noisier kilns, so the losses go back up before they settle.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s kiln: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("kiln")
mx.random.seed(11)


def make_kilns(n, hard=False):
    # peak temp (C), soak minutes, ramp C/h, paint load, glass thickness mm, venting
    k = mx.random.normal((n, 6))
    peak, soak, ramp, load, thick, vent = [k[:, i] for i in range(6)]
    heat = 0.9 * peak + 0.5 * soak - 0.3 * ramp
    fuse = 60 + 18 * mx.tanh(heat - 0.4 * load) - 6 * thick * (1 + 0.5 * vent) + 4 * soak * vent
    z = heat - 0.3 * thick
    fault = mx.where(z < -0.7, 0, mx.where(z > 1.1, 2, 1))  # underfired / ok / devitrified
    if hard:
        fuse = fuse + 8 * mx.random.normal((n,))          # drafty old kiln, noisy scores
        flip = mx.random.uniform(shape=(n,)) < 0.12
        fault = mx.where(flip, mx.random.randint(0, 3, (n,)), fault)
    return k, fuse / 100.0, fault.astype(mx.int32), thick


class KilnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.fuse_head = nn.Linear(64, 1)
        self.fault_head = nn.Linear(64, 3)
        self.probe = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.fuse_head(h).squeeze(-1), self.fault_head(h), self.probe(mx.stop_gradient(h)).squeeze(-1)


def losses(model, x, yf, yc, yt):
    pf, pc, pt = model(x)
    return (nn.losses.mse_loss(pf, yf), nn.losses.cross_entropy(pc, yc, reduction="mean"),
            nn.losses.mse_loss(pt, yt))


model = KilnNet()
mx.eval(model.parameters())

Xa, Fa, Ca, Ta = make_kilns(3000)
Xh, Fh, Ch, Th = make_kilns(1500, hard=True)
Xv, Fv, Cv, Tv = make_kilns(800)

# task weights from initial losses (baseline printed beside the live values later)
l0 = [v.item() for v in losses(model, Xa, Fa, Ca, Ta)]
w_fuse, w_fault = 1.0 / l0[0], 1.0 / l0[1]
log.info("initial losses fuse=%.4f fault=%.4f probe=%.4f -> weights %.2f / %.3f", *l0, w_fuse, w_fault)


def total_loss(model, x, yf, yc, yt):
    lf, lc, lp = losses(model, x, yf, yc, yt)
    return w_fuse * lf + w_fault * lc + lp, (lf, lc, lp)


vg = nn.value_and_grad(model, total_loss)

# audit: probe must not reach the trunk; every head must receive gradient
def probe_only(model, x, yt):
    return nn.losses.mse_loss(model(x)[2], yt)

_, gp = nn.value_and_grad(model, probe_only)(model, Xa[:256], Ta[:256])
_, (g_all) = vg(model, Xa[:256], Fa[:256], Ca[:256], Ta[:256])
trunk_from_probe = math.sqrt(sum(mx.sum(v * v).item() for k, v in tree_flatten(gp) if k.startswith("trunk")))
norms = {k.split(".")[0]: 0.0 for k, _ in tree_flatten(g_all)}
for k, v in tree_flatten(g_all):
    norms[k.split(".")[0]] += mx.sum(v * v).item()
log.info("audit: |grad trunk <- probe| = %.2e (expected 0), grad norms %s", trunk_from_probe,
         " ".join(f"{k}={math.sqrt(v):.3e}" for k, v in norms.items()))

steps_a, steps_b, bs = 900, 600, 64
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 100),
                              optim.cosine_decay(3e-3, steps_a + steps_b - 100, 1e-4)], [100])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

step = 0
for stage, (X, F, C, T, n_steps) in enumerate([(Xa, Fa, Ca, Ta, steps_a),
                                               (mx.concatenate([Xa, Xh]), mx.concatenate([Fa, Fh]),
                                                mx.concatenate([Ca, Ch]), mx.concatenate([Ta, Th]), steps_b)], 1):
    log.info("stage %d: %d kiln logs%s", stage, X.shape[0], " (adds drafty kilns)" if stage == 2 else "")
    for i in range(n_steps):
        idx = mx.random.randint(0, X.shape[0], (bs,))
        (tot, (lf, lc, lp)), g = vg(model, X[idx], F[idx], C[idx], T[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, tot, lf, lc, lp)
        step += 1
        if i % 150 == 0 or i == n_steps - 1:
            pf, pc, pt = model(Xv)
            mae = (mx.abs(pf - Fv).mean() * 100).item()
            acc = ((mx.argmax(pc, -1) == Cv).mean() * 100).item()
            prmse = mx.sqrt(((pt - Tv) ** 2).mean()).item()
            log.info("s%d it %4d lr %.2e | total %.3f fuse %.4f (x%.1f) fault %.3f (x%.2f) probe %.3f "
                     "| val fuse MAE %.2f pts, fault acc %.1f%%, probe rmse %.3f",
                     stage, i, opt.learning_rate.item(), tot.item(), lf.item(), w_fuse, lc.item(),
                     w_fault, lp.item(), mae, acc, prmse)

log.info("done after %d updates", step)
