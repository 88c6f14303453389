"""Solar saltworks: two tasks from one shared trunk, trained in three
curriculum stages with a checkpoint and resume between stages 2 and 3.

Per evaporation pan (7 synthetic readings) predict
  * harvested crystal yield, t per pan (MSE on a standardised target)
  * brine grade at harvest: fine / coarse / bittern-tainted (3-way CE)

The curriculum only admits pans up to a maximum number of evaporation days;
longer campaigns are harder to predict, so the training loss goes UP when
each stage widens the range.  The validation set always covers all pans.
Trunk weights use SGD with momentum and a cosine schedule, the two heads use
AdamW (MultiOptimizer).  After stage 2 the weights and optimizer state are
written to disk, a new model and optimizer are built from those files, and
training continues.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(23)
D = 7


def make_pans(n):
    days = rng.uniform(5, 60, size=n)
    x = rng.normal(size=(n, D)).astype(np.float32)
    x[:, 0] = (days - 32.5) / 16.0                     # campaign length, scaled
    sun, wind, depth, rain, clay, inflow = x[:, 1], x[:, 2], x[:, 3], x[:, 4], x[:, 5], x[:, 6]
    # made-up evaporation law: longer campaigns compound the weather effects
    k = days / 60.0
    yld = (4.0 + 2.2 * k + k * (0.9 * sun + 0.5 * wind - 0.6 * rain)
           + k ** 2 * 0.8 * np.sin(2.5 * sun * wind) - 0.3 * depth
           + (0.10 + 0.35 * k) * rng.normal(size=n))
    score_coarse = 0.8 * wind + 1.2 * k - 0.4 * depth
    score_bittern = -1.0 + 1.5 * k * clay + 0.7 * inflow * k + 0.8 * k ** 2 * np.cos(3 * rain)
    logits = np.stack([np.zeros(n), score_coarse, score_bittern], 1) + rng.gumbel(size=(n, 3)) * 0.7
    grade = logits.argmax(1).astype(np.int32)
    return x, yld.astype(np.float32), grade, days


xtr, ytr, gtr, dtr = make_pans(9000)
xva, yva, gva, dva = make_pans(2000)
y_mu, y_sd = ytr.mean(), ytr.std()
Xva, Yva, Gva = mx.array(xva), mx.array((yva - y_mu) / y_sd), mx.array(gva)


class Pans(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU()
        )
        self.yield_head = nn.Linear(hidden, 1)
        self.grade_head = nn.Linear(hidden, 3)

    def __call__(self, x):
        h = self.trunk(x)
        return self.yield_head(h).squeeze(-1), self.grade_head(h)


def loss_fn(model, x, y, g):
    py, pg = model(x)
    l_y = nn.losses.mse_loss(py, y, reduction="mean")
    l_g = nn.losses.cross_entropy(pg, g, reduction="mean")
    return l_y + 0.5 * l_g, (l_y, l_g)


STAGES = [(20, 500), (40, 500), (60, 700)]  # (max evaporation days, steps)
TOTAL = sum(s for _, s in STAGES)
BS = 128


def build_optimizer():
    trunk_opt = optim.SGD(learning_rate=optim.cosine_decay(0.05, TOTAL, 0.005), momentum=0.9)
    head_opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    return optim.MultiOptimizer([trunk_opt, head_opt], [lambda path, w: path.startswith("trunk")])


def evaluate(model):
    py, pg = model(Xva)
    l, (ly, lg) = loss_fn(model, Xva, Yva, Gva)
    rmse = (mx.sqrt(mx.mean((py - Yva) ** 2)) * y_sd).item()
    acc = (mx.argmax(pg, -1) == Gva).astype(mx.float32).mean().item()
    return l.item(), rmse, acc


base_rmse = float(np.sqrt(np.mean((yva - y_mu) ** 2)))
base_acc = float(np.bincount(gtr, minlength=3)[np.bincount(gtr, minlength=3).argmax()] / len(gtr))
grade_share = np.bincount(gtr, minlength=3) / len(gtr)
print(f"saltworks: 9000 train pans / 2000 val pans; grade shares fine/coarse/bittern {np.round(grade_share, 3)}")
print(f"baselines on val: yield RMSE {base_rmse:.3f} t (train mean), grade acc {base_acc:.3f} (majority)")

mx.random.seed(5)
model = Pans(D)
mx.eval(model.parameters())
opt = build_optimizer()
grad_fn = nn.value_and_grad(model, loss_fn)
ckpt_dir = tempfile.mkdtemp()

t0 = time.time()
step = 0
for stage, (max_days, n_steps) in enumerate(STAGES, start=1):
    pool = np.nonzero(dtr <= max_days)[0]
    Xp, Yp, Gp = mx.array(xtr[pool]), mx.array((ytr[pool] - y_mu) / y_sd), mx.array(gtr[pool])
    print(f"== stage {stage}: pans up to {max_days} days ({len(pool)} in pool), {n_steps} steps")
    run_l = run_y = run_g = 0.0
    for i in range(n_steps):
        idx = mx.array(rng.integers(0, len(pool), size=BS))
        (l, (ly, lg)), grads = grad_fn(model, Xp[idx], Yp[idx], Gp[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, l, ly, lg)
        run_l += l.item(); run_y += ly.item(); run_g += lg.item()
        step += 1
        if (i + 1) % 100 == 0:
            vl, rmse, acc = evaluate(model)
            trunk_lr = opt.optimizers[0].learning_rate.item()
            print(f"step {step:5d}  train {run_l / 100:.4f} (yield {run_y / 100:.4f}, grade {run_g / 100:.4f})"
                  f"  val {vl:.4f}  rmse {rmse:.3f} t  acc {acc:.3f}  trunk lr {trunk_lr:.4f}")
            run_l = run_y = run_g = 0.0

    if stage == 2:
        before = evaluate(model)
        model.save_weights(os.path.join(ckpt_dir, "pans.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"-- checkpoint written to {ckpt_dir} at step {step}, val loss {before[0]:.4f}")
        del model, opt, grad_fn
        model = Pans(D)
        model.load_weights(os.path.join(ckpt_dir, "pans.safetensors"))
        opt = build_optimizer()
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        grad_fn = nn.value_and_grad(model, loss_fn)
        after = evaluate(model)
        print(f"-- resumed from checkpoint: val loss {after[0]:.4f}, trunk step counter "
              f"{int(opt.optimizers[0].state['step'].item())}")

vl, rmse, acc = evaluate(model)
print(f"final val: loss {vl:.4f}, yield RMSE {rmse:.3f} t (baseline {base_rmse:.3f}), "
      f"grade acc {acc:.3f} (baseline {base_acc:.3f})")
shutil.rmtree(ckpt_dir)
print(f"done in {time.time() - t0:.1f}s")
