"""Bookbinding workshop: minutes until a glued spine can be handled, from six
bench readings.  A wide model is fitted first, then frozen and stored in
float16 for the bench tablet; a small model is distilled from the float16 copy
in two sessions (session 2 reloads weights and optimizer state from disk).
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

NOISE_MIN = 0.6


def make_bench(n, rng):
    temp = rng.uniform(14, 28, n)          # workshop C
    rh = rng.uniform(30, 80, n)            # relative humidity %
    film = rng.uniform(0.05, 0.4, n)       # glue film mm
    board = rng.uniform(1.0, 3.5, n)       # board thickness mm
    pva_share = rng.uniform(0, 1, n)       # PVA share in a PVA / wheat-paste mix
    airflow = rng.uniform(0, 1.5, n)       # m/s
    minutes = (6 + 55 * film * (1 + 0.02 * (rh - 50)) * np.exp(-0.045 * (temp - 20))
               * (1.6 - pva_share) + 2.5 * board - 4.0 * np.sqrt(airflow))
    minutes = minutes + NOISE_MIN * rng.standard_normal(n)
    X = np.stack([temp, rh, film, board, pva_share, airflow], 1).astype(np.float32)
    return X, minutes.astype(np.float32)


def mlp(widths):
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers[:-1])


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    Xtr, ytr = make_bench(3000, rng)
    Xva, yva = make_bench(800, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ym, ys = ytr.mean(), ytr.std()
    Xtr_n, Xva_n = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
    ytr_n = mx.array((ytr - ym) / ys)[:, None]
    yva_m = mx.array(yva)
    base = float(np.sqrt(((yva - ym) ** 2).mean()))
    print(f"bench: 3000 train / 800 val spines, predict-the-mean RMSE {base:.2f} min, "
          f"reading noise {NOISE_MIN:.2f} min")

    def rmse_min(model, dtype=mx.float32):
        p = model(Xva_n.astype(dtype)).astype(mx.float32)[:, 0] * ys + ym
        return mx.sqrt(mx.mean((p - yva_m) ** 2)).item()

    # ---- wide model, float32 ----
    wide = mlp([6, 128, 128, 1])
    mx.eval(wide.parameters())
    opt_w = optim.Adam(learning_rate=2e-3)

    def mse_w(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    vg_w = nn.value_and_grad(wide, mse_w)
    t0 = time.time()
    for ep in range(1, 9):
        perm = rng.permutation(3000)
        tot = 0.0
        for b in range(30):
            idx = mx.array(perm[b * 100:(b + 1) * 100])
            loss, g = vg_w(wide, Xtr_n[idx], ytr_n[idx])
            opt_w.update(wide, g)
            mx.eval(wide.parameters(), opt_w.state, loss)
            tot += loss.item()
        if ep in (1, 4, 8):
            print(f"[wide]    epoch {ep}  train mse {tot/30:.4f} (std units)  val RMSE {rmse_min(wide):.3f} min"
                  f"  {time.time()-t0:.1f}s")

    # ---- store wide model in float16, frozen ----
    wide.set_dtype(mx.float16)
    wide.freeze()
    wide.eval()
    n_train = len(tree_flatten(wide.trainable_parameters()))
    print(f"[tablet]  wide model cast to float16, trainable leaves {n_train}, "
          f"val RMSE in float16 {rmse_min(wide, mx.float16):.3f} min")
    soft_tr = wide(Xtr_n.astype(mx.float16)).astype(mx.float32)
    mx.eval(soft_tr)

    # ---- small model distilled from the float16 copy ----
    ALPHA = 0.5

    def mse_s(m, xb, yb, sb):
        p = m(xb)
        return ALPHA * nn.losses.mse_loss(p, yb) + (1 - ALPHA) * nn.losses.mse_loss(p, sb)

    def make_student():
        s = mlp([6, 16, 1])
        o = optim.SGD(learning_rate=optim.step_decay(0.05, 0.5, 150), momentum=0.9, nesterov=True)
        return s, o

    def run(student, opt, epochs, tag, ep0):
        vg_s = nn.value_and_grad(student, mse_s)
        for ep in range(ep0 + 1, ep0 + epochs + 1):
            perm = rng.permutation(3000)
            tot = 0.0
            for b in range(30):
                idx = mx.array(perm[b * 100:(b + 1) * 100])
                loss, g = vg_s(student, Xtr_n[idx], ytr_n[idx], soft_tr[idx])
                opt.update(student, g)
                mx.eval(student.parameters(), opt.state, loss)
                tot += loss.item()
            print(f"[{tag}] epoch {ep:2d}  lr {opt.learning_rate.item():.4f}  distill loss {tot/30:.4f}"
                  f"  val RMSE {rmse_min(student):.3f} min")

    student, opt_s = make_student()
    mx.eval(student.parameters())
    print(f"[small]   untrained val RMSE {rmse_min(student):.3f} min")
    run(student, opt_s, 6, "small s1", 0)

    ckdir = tempfile.mkdtemp()
    student.save_weights(os.path.join(ckdir, "small.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt_s.state)))
    print(f"[small]   session 1 saved ({len(os.listdir(ckdir))} files), val RMSE {rmse_min(student):.3f} min")
    del student, opt_s

    student, opt_s = make_student()
    student.load_weights(os.path.join(ckdir, "small.safetensors"))
    opt_s.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    print(f"[small]   session 2 resumed at optimizer step {opt_s.step.item()}, val RMSE {rmse_min(student):.3f} min")
    run(student, opt_s, 6, "small s2", 6)

    print(f"done: wide(float16) {rmse_min(wide, mx.float16):.3f} min, small {rmse_min(student):.3f} min, "
          f"mean baseline {base:.2f} min, noise {NOISE_MIN:.2f} min")


if __name__ == "__main__":
    main()
