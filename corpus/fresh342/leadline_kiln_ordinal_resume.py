"""Stained-glass studio: will a fired panel's grisaille paint come out
under-fired (0), fused (1) or over-fired (2)?

Cumulative-logit (ordinal) model on 7 kiln-log readings, trained in two
sessions: session 1 runs 240 steps and writes a checkpoint, session 2 builds
a fresh model and optimizer, loads the checkpoint and carries on to step 600.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
FEATS = ["peak_C", "soak_min", "ramp_C_per_h", "paint_g_m2", "glass_mm",
         "shelf_pos", "vent_open"]


def make_panels(n):
    peak = rng.normal(660, 25, n)
    soak = rng.gamma(4.0, 3.0, n)
    ramp = rng.normal(180, 40, n)
    paint = rng.lognormal(1.0, 0.35, n)
    thick = rng.choice([2.0, 3.0, 4.0, 6.0], n)
    shelf = rng.integers(0, 3, n).astype(np.float64)
    vent = rng.integers(0, 2, n).astype(np.float64)
    heat = (0.09 * (peak - 660) + 0.12 * (soak - 12) - 0.006 * (ramp - 180)
            - 0.7 * (paint - 2.9) - 0.35 * (thick - 3.5) + 0.4 * (shelf - 1)
            - 0.5 * vent)
    cuts = np.array([-1.2, 1.4])
    p_le = 1.0 / (1.0 + np.exp(-(cuts[None, :] - heat[:, None])))
    u = rng.random(n)
    y = (u > p_le[:, 0]).astype(np.int32) + (u > p_le[:, 1]).astype(np.int32)
    X = np.stack([peak, soak, ramp, paint, thick, shelf, vent], axis=1)
    return X, y


Xtr, ytr = make_panels(4000)
Xva, yva = make_panels(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = ((Xtr - mu) / sd).astype(np.float32)
Xva = ((Xva - mu) / sd).astype(np.float32)
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)


class KilnOrdinal(nn.Module):
    def __init__(self, d_in, hidden=32):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(),
                                  nn.Linear(hidden, hidden), nn.SiLU())
        self.score = nn.Linear(hidden, 1)
        self.cut0 = mx.array([-0.5])
        self.gap = mx.array([0.0])      # second cut = cut0 + softplus(gap)

    def cuts(self):
        return mx.concatenate([self.cut0, self.cut0 + nn.softplus(self.gap)])

    def __call__(self, x):
        s = self.score(self.body(x))                # (n, 1)
        p_le = mx.sigmoid(self.cuts()[None, :] - s)  # P(y <= k), k = 0, 1
        p0 = p_le[:, :1]
        p1 = p_le[:, 1:] - p_le[:, :1]
        p2 = 1.0 - p_le[:, 1:]
        return mx.concatenate([p0, p1, p2], axis=1)


def nll(model, x, y):
    p = model(x)
    py = mx.take_along_axis(p, y[:, None], axis=1).squeeze(1)
    return -mx.log(mx.maximum(py, 1e-7)).mean()


def lr_at(step, base=3e-4, warm=60):
    if step < warm:
        return base * step / warm          # 0.0 at step 0
    if step < 420:
        return base
    return base * 0.3


def evaluate(model):
    p = model(Xva_m)
    loss = -mx.log(mx.maximum(mx.take_along_axis(p, yva_m[:, None], 1), 1e-7)).mean()
    acc = (p.argmax(1) == yva_m).mean()
    mae = mx.abs(p.argmax(1) - yva_m).mean()
    return loss.item(), acc.item(), mae.item()


def run_session(model, opt, start, stop, batch=128):
    grad_fn = nn.value_and_grad(model, nll)
    n = Xtr.shape[0]
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        idx = mx.array(rng.integers(0, n, batch))
        loss, grads = grad_fn(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == stop - 1:
            vl, va, vm = evaluate(model)
            c = model.cuts().tolist()
            print(f"step {step:4d} ; lr {lr_at(step):.2e} ; train_nll {loss.item():.4f} ; "
                  f"val_nll {vl:.4f} ; val_acc {100 * va:5.1f}% ; val_mae {vm:.3f} ; "
                  f"cuts {c[0]:+.2f} {c[1]:+.2f}")


def save_ckpt(path, model, opt, step):
    flat = dict(tree_flatten(model.parameters()))
    flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
    flat["meta.step"] = mx.array(step)
    mx.save_safetensors(path, flat)


def load_ckpt(path, model, opt):
    flat = mx.load(path)
    params = [(k, v) for k, v in flat.items() if not k.startswith(("opt.", "meta."))]
    model.update(tree_unflatten(params))
    opt.state = tree_unflatten([(k[4:], v) for k, v in flat.items() if k.startswith("opt.")])
    return int(flat["meta.step"].item())


counts = np.bincount(ytr, minlength=3)
prior = counts / counts.sum()
maj = int(np.argmax(counts))
base_acc = float((yva == maj).mean())
base_nll = float(-np.log(prior[yva]).mean())
print(f"panels: train {len(ytr)} val {len(yva)} ; class shares "
      f"{' / '.join(f'{100 * q:.1f}%' for q in prior)}")
print(f"reference: majority-class val_acc {100 * base_acc:.1f}% ; class-prior val_nll {base_nll:.4f}")

t0 = time.time()
mx.random.seed(3)
model = KilnOrdinal(len(FEATS))
opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)
mx.eval(model.parameters())
vl, va, vm = evaluate(model)
print(f"untrained: val_nll {vl:.4f} ; val_acc {100 * va:.1f}%")
print("== session 1 ==")
run_session(model, opt, 0, 240)

tmp = tempfile.mkdtemp("", "kiln_")
ck = os.path.join(tmp, "kiln_step240.safetensors")
save_ckpt(ck, model, opt, 240)
before = evaluate(model)
del model, opt

print("== session 2 (resumed) ==")
mx.random.seed(99)
model = KilnOrdinal(len(FEATS))
opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)
opt.init(model.trainable_parameters())
start = load_ckpt(ck, model, opt)
mx.eval(model.parameters(), opt.state)
after = evaluate(model)
print(f"loaded {os.path.basename(ck)} at step {start} ; val_nll {after[0]:.4f} "
      f"(saved {before[0]:.4f})")
run_session(model, opt, start, 600)

vl, va, vm = evaluate(model)
print(f"final: val_nll {vl:.4f} vs prior {base_nll:.4f} ; val_acc {100 * va:.1f}% vs "
      f"majority {100 * base_acc:.1f}% ; val_mae {vm:.3f} ; {time.time() - t0:.1f}s")
