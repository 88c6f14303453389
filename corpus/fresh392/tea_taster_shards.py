import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

FEATS = ["moisture", "wither_h", "roll_min", "oxid_min", "fire_c", "leaf_grade",
         "altitude_km", "flush", "rain_mm", "shade", "bud_ratio", "storage_d"]
NOISE = 0.30
N_SHARDS, ROWS = 6, 16000


def make_rows(rng, n):
    x = rng.normal(size=(n, len(FEATS))).astype(np.float32)
    s = (5.5 + 1.2 * np.tanh(x[:, 3] - 0.5 * x[:, 2]) - 0.8 * (x[:, 4] - 0.3) ** 2 / 2
         + 0.6 * x[:, 6] * x[:, 10] + 0.4 * np.sin(2 * x[:, 0]) - 0.3 * x[:, 11]
         + 0.25 * x[:, 1] * (x[:, 7] > 0))
    y = s + NOISE * rng.normal(size=n)
    return x, y.astype(np.float32)


class Taster(nn.Module):
    def __init__(self, d_in, width=96):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm1 = nn.LayerNorm(width)
        self.mid = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.norm1(self.inp(x)))
        h = h + nn.silu(self.norm2(self.mid(h)))
        return self.out(h).squeeze(-1)


def mb(v):
    return v / 2**20


def main():
    rng = np.random.default_rng(7)
    tmp = tempfile.TemporaryDirectory()
    paths = []
    for i in range(N_SHARDS):
        x, y = make_rows(rng, ROWS)
        np.save(os.path.join(tmp.name, f"lot{i}_x.npy"), x)
        np.save(os.path.join(tmp.name, f"lot{i}_y.npy"), y)
        paths.append(i)
    vx, vy = make_rows(rng, 3000)
    # scaling from the first lot only, as a taster would calibrate on one tray
    x0 = np.load(os.path.join(tmp.name, "lot0_x.npy"), mmap_mode="r")
    mu, sd = np.asarray(x0).mean(0), np.asarray(x0).std(0) + 1e-6
    y0 = np.load(os.path.join(tmp.name, "lot0_y.npy"), mmap_mode="r")
    ymu, ysd = float(np.mean(y0)), float(np.std(y0))
    vx_m = mx.array((vx - mu) / sd)
    print(f"tea| {N_SHARDS} lots x {ROWS} cups on disk, 3000 held-out cups, score sd {ysd:.2f}")
    print(f"tea| predict-the-mean rmse {np.sqrt(np.mean((vy - ymu) ** 2)):.3f}   taster noise floor {NOISE:.2f}")

    mx.random.seed(3)
    model = Taster(len(FEATS))
    mx.eval(model.parameters())
    sched = optim.step_decay(2e-3, 0.5, 60 * 3 * N_SHARDS // 2)
    opt = optim.Adamax(learning_rate=sched)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    grad_fn = nn.value_and_grad(model, loss_fn)

    def val_rmse():
        preds = []
        for i in range(0, vx_m.shape[0], 1000):
            p = model(vx_m[i:i + 1000])
            mx.eval(p)
            preds.append(np.array(p))
        p = np.concatenate(preds) * ysd + ymu
        return float(np.sqrt(np.mean((p - vy) ** 2)))

    print(f"tea| untrained rmse {val_rmse():.3f}, active {mb(mx.get_active_memory()):.2f} MB")
    t0 = time.time()
    step = 0
    for rnd in range(1, 4):
        order = rng.permutation(N_SHARDS)
        run_loss, run_n = 0.0, 0
        for k, lot in enumerate(order, 1):
            xs = np.load(os.path.join(tmp.name, f"lot{lot}_x.npy"), mmap_mode="r")
            ys = np.load(os.path.join(tmp.name, f"lot{lot}_y.npy"), mmap_mode="r")
            cx = mx.array((np.asarray(xs) - mu) / sd)
            cy = mx.array((np.asarray(ys) - ymu) / ysd)
            mx.eval(cx, cy)
            loaded = mb(mx.get_active_memory())
            perm = mx.array(rng.permutation(ROWS))
            for i in range(0, ROWS - 255, 256):
                idx = perm[i:i + 256]
                loss, grads = grad_fn(model, cx[idx], cy[idx])
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                run_loss += loss.item()
                run_n += 1
                step += 1
            del cx, cy, perm, xs, ys
            mx.clear_cache()
            freed = mb(mx.get_active_memory())
            print(f"tea| round {rnd} lot {k}/{N_SHARDS} (file {lot}) | active {loaded:5.2f} MB while brewing -> "
                  f"{freed:5.2f} MB after rinse | cache {mb(mx.get_cache_memory()):.2f} MB")
        r = val_rmse()
        print(f"tea| == round {rnd}: step {step}, lr {float(opt.learning_rate):.2e}, train mse(std units) "
              f"{run_loss / run_n:.4f}, held-out rmse {r:.3f} (mean-guess {np.sqrt(np.mean((vy - ymu) ** 2)):.3f}, "
              f"floor {NOISE:.2f}), {time.time() - t0:.1f}s")
    tmp.cleanup()
    print(f"tea| done: final held-out rmse {val_rmse():.3f} in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
