"""Arrow drop (cm below line of sight) at a given distance, regressed from bow/arrow setup.

Physics-ish toy: arrow speed from draw weight and arrow mass (kinetic efficiency 0.78),
quadratic drag, flight simulated with small Euler steps, sight zeroed at 20 m.
Training runs in two sessions: session 1 trains and writes a checkpoint (weights +
optimizer state + step + rng position) to a temp dir; session 2 builds everything fresh,
loads that checkpoint, and continues.  Plain prints.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

G = 9.81


def drop_cm(draw_lb, arrow_gr, dist_m, k_drag):
    m = arrow_gr * 6.48e-5            # grains -> kg
    e = 0.78 * draw_lb * 4.448 * 0.72 * 0.5   # ~stored energy J (0.72 m draw, linear-ish)
    v0 = np.sqrt(2 * e / m)

    def fall(d):
        # horizontal speed decays with quadratic drag: v(x) = v0 * exp(-k x / m); t = integral dx / v
        a = k_drag / m
        t = (np.exp(a * d) - 1) / (a * v0)
        return 0.5 * G * t ** 2

    return 100 * (fall(dist_m) - fall(20.0) * dist_m / 20.0)


def make_data(n, rng):
    draw = rng.uniform(25, 70, n)
    arrow = rng.uniform(300, 550, n)
    dist = rng.uniform(10, 90, n)
    kd = rng.uniform(1.0e-5, 3.0e-5, n)
    y = drop_cm(draw, arrow, dist, kd) + rng.normal(0, 1.5, n)
    x = np.stack([(draw - 47.5) / 13, (arrow - 425) / 72, (dist - 50) / 23, (kd - 2e-5) / 5.8e-6], 1)
    return x.astype(np.float32), y.astype(np.float32)


class DropNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def build(lr_steps):
    model = DropNet()
    opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, lr_steps, 5e-5))
    return model, opt


def validate(model, xv, yv, ysd, ymu):
    pred = model(xv) * ysd + ymu
    err = pred - yv
    return float(mx.sqrt(mx.mean(err ** 2))), float(mx.mean(mx.abs(err)))


def run_session(name, model, opt, start_step, end_step, data, ckdir=None, resume=False):
    xtr, ytr_s, xv, yv, ysd, ymu = data
    vg = nn.value_and_grad(model, loss_fn)
    bs = 64
    n = xtr.shape[0]
    steps_per_epoch = n // bs
    if resume:
        model.load_weights(os.path.join(ckdir, "model.safetensors"))
        flat = mx.load(os.path.join(ckdir, "opt.safetensors"))
        opt.state = tree_unflatten(list(flat.items()))
        meta = json.load(open(os.path.join(ckdir, "meta.json")))
        start_step = meta["step"]
        r, m = validate(model, xv, yv, ysd, ymu)
        print(f"[{name}] restored step {start_step} from {ckdir}; valid rmse={r:.3f} cm "
              f"(saved {meta['valid_rmse']:.3f} cm); opt step={int(opt.state['step'])}")
    print(f"[{name}] {'step':>6} {'train_mse(std)':>15} {'valid_rmse_cm':>14} {'valid_mae_cm':>13} {'lr':>9}")
    window = []
    for step in range(start_step, end_step):
        ep, i = divmod(step, steps_per_epoch)
        perm = np.random.default_rng(1000 + ep).permutation(n)
        idx = mx.array(perm[i * bs:(i + 1) * bs].astype(np.int32))
        loss, g = vg(model, xtr[idx], ytr_s[idx])
        if step == 0:
            lv = tree_flatten(g)
            nz = sum(float(mx.abs(v).max()) > 0 for _, v in lv)
            print(f"[{name}] gradient check at step 0: {nz}/{len(lv)} leaves non-zero, loss0={loss.item():.4f}")
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % 250 == 0 or step + 1 == end_step:
            r, m = validate(model, xv, yv, ysd, ymu)
            print(f"[{name}] {step + 1:>6} {np.mean(window):>15.5f} {r:>14.3f} {m:>13.3f} "
                  f"{float(opt.learning_rate):>9.2e}")
            window = []
    if ckdir is not None and not resume:
        r, _ = validate(model, xv, yv, ysd, ymu)
        model.save_weights(os.path.join(ckdir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        json.dump({"step": end_step, "valid_rmse": r}, open(os.path.join(ckdir, "meta.json"), "w"))
        print(f"[{name}] checkpoint written at step {end_step} -> {ckdir}")


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    x, y = make_data(8000, rng)
    xv, yv = make_data(1500, rng)
    ymu, ysd = float(y.mean()), float(y.std())
    data = (mx.array(x), mx.array((y - ymu) / ysd), mx.array(xv), mx.array(yv), ysd, ymu)
    base = float(np.sqrt(np.mean((yv - ymu) ** 2)))
    print(f"train={len(y)} valid={len(yv)} drop range {y.min():.1f}..{y.max():.1f} cm; "
          f"predict-mean rmse={base:.3f} cm; noise sd=1.5 cm")
    total = 3000
    with tempfile.TemporaryDirectory() as ck:
        mx.random.seed(0)
        model, opt = build(total)
        run_session("session-1", model, opt, 0, 1500, data, ckdir=ck)
        del model, opt
        mx.random.seed(12345)              # fresh, different init; must be overwritten by the load
        model, opt = build(total)
        mx.eval(model.parameters())
        opt.init(model.trainable_parameters())
        run_session("session-2", model, opt, 0, total, data, ckdir=ck, resume=True)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
