# Tannery QC: predict hide tensile strength (MPa) from tanning-bath settings.
# Two-stage curriculum: thin calf hides first, then thick bull hides with an extra
# thickness x chrome interaction (plus a calf replay share). Each stage restarts its step counter and ramps LR from 0.
import json
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(2024)
FEATS = ["chrome_pct", "days", "bath_ph", "temp_c", "thickness_mm", "fatliquor_pct"]


def make_hides(n, kind):
    chrome = mx.random.uniform(2.0, 8.0, (n,))
    days = mx.random.uniform(1.0, 10.0, (n,))
    ph = mx.random.uniform(2.5, 4.5, (n,))
    temp = mx.random.uniform(18.0, 40.0, (n,))
    if kind == "calf":
        thick = mx.random.uniform(0.8, 1.6, (n,))
    else:
        thick = mx.random.uniform(2.5, 5.0, (n,))
    fat = mx.random.uniform(0.0, 12.0, (n,))
    # made-up strength law (MPa)
    y = (12.0 + 1.8 * chrome - 0.12 * chrome**2 + 2.5 * mx.log(days) - 3.0 * (ph - 3.4) ** 2
         + 0.15 * (temp - 28.0) - 0.4 * fat + 0.03 * fat**2 + 2.0 * thick)
    if kind == "bull":
        y = y + 0.35 * thick * chrome - 1.5 * mx.sin(temp / 4.0) * thick
    noise = 0.6 if kind == "calf" else 1.4
    y = y + noise * mx.random.normal((n,))
    x = mx.stack([chrome, days, ph, temp, thick, fat], axis=1)
    return x, y


# normalisation fixed from a mixed pilot batch, as the QC lab would do once
px, py = make_hides(2000, "calf")
qx, qy = make_hides(2000, "bull")
pilot = mx.concatenate([px, qx])
MU, SD = pilot.mean(0), pilot.std(0)


class StrengthNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 48)
        self.b = nn.Linear(48, 48)
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.a((x - MU) / SD))
        h = nn.silu(self.b(h)) + h
        return self.head(h).squeeze(-1) + 25.0


model = StrengthNet()
mx.eval(model.parameters())


def mse(m, x, y):
    return ((m(x) - y) ** 2).mean()


grad_fn = nn.value_and_grad(model, mse)
STAGES = [("calf", 500, 4e-3), ("bull", 700, 3e-3)]
BATCH = 128
t0 = time.time()
for stage_idx, (kind, steps, peak) in enumerate(STAGES):
    xtr, ytr = make_hides(6000, kind)
    if kind == "bull":  # keep a replay share of calf hides so stage 1 is not forgotten
        rx, ry = make_hides(2000, "calf")
        xtr, ytr = mx.concatenate([xtr, rx]), mx.concatenate([ytr, ry])
    xva, yva = make_hides(1000, kind)
    baseline = ((yva - ytr.mean()) ** 2).mean().item()
    warm = optim.linear_schedule(0.0, peak, 60)
    decay = optim.cosine_decay(peak, steps - 60, end=peak * 0.05)
    opt = optim.Adamax(learning_rate=optim.join_schedules([warm, decay], [60]))
    if stage_idx == 0:
        g0 = grad_fn(model, xtr[:BATCH], ytr[:BATCH])[1]
        zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
        print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "all_zero": zero}))
    for step in range(steps):
        idx = mx.random.randint(0, xtr.shape[0], (BATCH,))
        loss, grads = grad_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == steps - 1:
            val = mse(model, xva, yva).item()
            rec = {
                "stage": kind,
                "step": step,
                "lr": round(opt.learning_rate.item(), 6),
                "train_mse": round(loss.item(), 4),
                "val_rmse_mpa": round(math.sqrt(val), 3),
                "baseline_rmse_mpa": round(math.sqrt(baseline), 3),
                "r2_pct": round(100.0 * (1.0 - val / baseline), 2),
            }
            print(json.dumps(rec), flush=True)

# final check on both hide kinds
for kind in ("calf", "bull"):
    x, y = make_hides(1500, kind)
    err = model(x) - y
    print(f"holdout {kind:4s}: rmse {mx.sqrt((err**2).mean()).item():.3f} MPa  bias {err.mean().item():+.3f} MPa  spread {y.std().item():.3f} MPa")
print(f"elapsed {time.time() - t0:.1f}s")
