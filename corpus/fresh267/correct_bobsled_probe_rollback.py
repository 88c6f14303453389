# Bobsled team analytics: predict the finish time (s) of a two-man run from
# push-start telemetry (4 split times, push speed, sled mass, runner temp,
# ice temp, curve count of the track).
#
# Plan of the session:
#   phase "base":  SGD + momentum at lr 0.03 for 300 steps, best weights kept
#                  on disk with save_weights whenever the validation error improves.
#   phase "probe": the coach asks how far the learning rate can be pushed, so
#                  lr is raised to 0.6 for 40 steps (the loss is expected to climb).
#   phase "tune":  the best checkpoint is loaded back with load_weights, a fresh
#                  optimizer is built and training continues at lr 0.01 with
#                  cosine decay for 300 steps.

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def make_runs(n, rng):
    s1 = rng.uniform(1.45, 1.75, n)
    s2 = s1 + rng.uniform(1.80, 2.10, n)
    s3 = s2 + rng.uniform(1.10, 1.30, n)
    s4 = s3 + rng.uniform(0.75, 0.90, n)
    speed = 40.0 / s4 + rng.normal(0, 0.2, n)
    mass = rng.uniform(170, 210, n)
    runner = rng.uniform(-5, 5, n)
    ice = rng.uniform(-12, -2, n)
    curves = rng.integers(14, 20, n).astype(np.float64)
    t = (48.0 + 2.6 * (s4 - 5.2) - 0.35 * (speed - 7.7) - 0.012 * (mass - 190)
         + 0.03 * np.abs(runner - 1.0) + 0.05 * (ice + 7) ** 2 / 10 + 0.45 * (curves - 17)
         + 0.2 * np.sin(3 * s1))
    t = t + rng.normal(0, 0.05, n)
    x = np.column_stack([s1, s2, s3, s4, speed, mass, runner, ice, curves]).astype(np.float32)
    return x, t.astype(np.float32)[:, None]


class RunTimeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(9, 48), nn.Linear(48, 48), nn.Linear(48, 1)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.gelu(l(x))
        return self.layers[-1](x)


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(21)
    x, y = make_runs(5000, rng)
    xtr, ytr, xva, yva = x[:4200], y[:4200], x[4200:], y[4200:]
    mu, sd = xtr.mean(0), xtr.std(0)
    ym, ys = float(ytr.mean()), float(ytr.std())
    Xtr, Ytr = mx.array((xtr - mu) / sd), mx.array((ytr - ym) / ys)
    Xva, Yva = mx.array((xva - mu) / sd), mx.array(yva)
    print(f"runs: train {len(xtr)} | val {len(xva)} | timing-gate noise 0.050 s | "
          f"mean-predictor MAE {np.abs(yva - ym).mean():.3f} s")

    mx.random.seed(4)
    model = RunTimeNet()
    mx.eval(model.parameters())

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    vg = nn.value_and_grad(model, loss_fn)

    def val_mae():
        return mx.mean(mx.abs(model(Xva) * ys + ym - Yva)).item()

    ckdir = tempfile.mkdtemp(suffix="_bobsled_")
    best_path = os.path.join(ckdir, "best_runtime.safetensors")
    best = (float("inf"), -1)
    sampler = np.random.default_rng(8)
    step = 0

    def run_phase(name, opt, n_steps, keep_best):
        nonlocal step, best
        window = []
        for _ in range(n_steps):
            step += 1
            idx = mx.array(sampler.integers(0, Xtr.shape[0], 128))
            lr_used = opt.learning_rate.item()
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            if step % 20 == 0:
                mae = val_mae()
                mark = ""
                if keep_best and mae < best[0]:
                    best = (mae, step)
                    model.save_weights(best_path)
                    mark = "  * saved"
                print(f"{name:>5} | step {step:4d} | lr {lr_used:.4f} | "
                      f"train mse(z) {np.mean(window):8.4f} | val MAE {mae:.3f} s{mark}")
                window = []

    run_phase("base", optim.SGD(learning_rate=0.03, momentum=0.9), 300, keep_best=True)
    print(f"best so far: val MAE {best[0]:.3f} s at step {best[1]}")
    run_phase("probe", optim.SGD(learning_rate=0.6, momentum=0.9), 40, keep_best=False)
    print(f"probe finished: val MAE {val_mae():.3f} s -> loading {os.path.basename(best_path)} "
          f"(step {best[1]})")
    model.load_weights(best_path)
    mx.eval(model.parameters())
    print(f"after load: val MAE {val_mae():.3f} s")
    tune_lr = optim.cosine_decay(0.01, 300, 1e-4)
    run_phase("tune", optim.SGD(learning_rate=tune_lr, momentum=0.9), 300, keep_best=True)
    print(f"done in {time.perf_counter() - t0:.1f} s | best val MAE {best[0]:.3f} s at step "
          f"{best[1]} | final val MAE {val_mae():.3f} s")


if __name__ == "__main__":
    main()
