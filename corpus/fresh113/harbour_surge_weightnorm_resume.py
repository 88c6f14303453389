"""Storm-surge residual at a harbour tide gauge (observed minus predicted
astronomical tide, cm) from barometer, wind and river readings.
Weight-normalised linear layers (w = g * v / ||v||, written by hand) trained
with AdamW; the run checkpoints itself after session 1 and a second session
resumes from that checkpoint in a fresh process-like state."""
import os
import json
import time
import shutil
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten


def gauge_records(n, rng):
    pressure = rng.normal(1012, 11, n)              # hPa
    wind_u = rng.normal(2, 7, n)                     # onshore component, m/s
    wind_v = rng.normal(0, 6, n)
    fetch_h = rng.uniform(0, 36, n)                  # hours wind has blown onshore
    river = rng.lognormal(3.0, 0.5, n)               # m3/s
    tide_phase = rng.uniform(0, 2 * np.pi, n)
    surge = (-1.0 * (pressure - 1012)                # inverse barometer, ~1 cm/hPa
             + 0.09 * np.sign(wind_u) * wind_u ** 2 * (1 - np.exp(-fetch_h / 10))
             + 0.04 * river
             - 3.0 * np.cos(tide_phase) * np.maximum(wind_u, 0) / 7
             + rng.normal(0, 3.0, n))
    X = np.stack([pressure, wind_u, wind_v, fetch_h, np.log(river),
                  np.sin(tide_phase), np.cos(tide_phase)], 1)
    return X.astype(np.float32), surge.astype(np.float32)


class WNLinear(nn.Module):
    """Linear layer with weight normalisation (Salimans & Kingma)."""

    def __init__(self, d_in, d_out):
        super().__init__()
        s = 1.0 / np.sqrt(d_in)
        self.v = mx.random.uniform(-s, s, (d_out, d_in))
        self.g = mx.linalg.norm(self.v, axis=1)
        self.b = mx.zeros((d_out,))

    def __call__(self, x):
        w = self.v * (self.g / mx.linalg.norm(self.v, axis=1))[:, None]
        return x @ w.T + self.b


class SurgeNet(nn.Module):
    def __init__(self, d_in, h=64):
        super().__init__()
        self.l1 = WNLinear(d_in, h)
        self.l2 = WNLinear(h, h)
        self.out = WNLinear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def run_session(label, model, opt, data, epochs, first_epoch, bs=128):
    Xtr, ytr, Xva, yva, ysd = data
    step = nn.value_and_grad(model, mse)
    n = Xtr.shape[0]
    for ep in range(first_epoch, first_epoch + epochs):
        order = mx.array(np.random.default_rng(1000 + ep).permutation(n))
        run = 0.0
        nb = 0
        for i in range(0, n - bs + 1, bs):
            idx = order[i:i + bs]
            loss, g = step(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        rmse_cm = float(mx.sqrt(mse(model, Xva, yva))) * ysd
        print(f"{label} epoch {ep:2d}  lr {opt.learning_rate.item():.2e}  "
              f"train mse(std) {run / nb:.4f}  valid rmse {rmse_cm:6.2f} cm")


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    Xtr, ytr = gauge_records(12000, rng)
    Xva, yva = gauge_records(2500, rng)
    xm, xs = Xtr.mean(0), Xtr.std(0)
    ym, ysd = ytr.mean(), ytr.std()
    data = (mx.array((Xtr - xm) / xs), mx.array((ytr - ym) / ysd),
            mx.array((Xva - xm) / xs), mx.array((yva - ym) / ysd), float(ysd))
    print(f"surge sd {ysd:.1f} cm, noise floor 3.0 cm, predict-mean rmse {float(yva.std()):.1f} cm")

    total_epochs, split = 10, 5
    sched = optim.cosine_decay(2e-3, total_epochs * (12000 // 128), end=1e-5)

    mx.random.seed(11)
    model = SurgeNet(7)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    mx.eval(model.parameters())

    _, g = nn.value_and_grad(model, mse)(model, data[0][:256], data[1][:256])
    zero = [k for k, v in tree_flatten(g) if not bool(mx.any(v != 0))]
    print(f"grad check: {len(tree_flatten(g))} leaves, zero leaves {zero}")

    run_session("[s1]", model, opt, data, split, 1)

    ckdir = tempfile.mkdtemp(prefix="surge_ckpt_")
    model.save_weights(os.path.join(ckdir, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckdir, "meta.json"), "w") as f:
        json.dump({"next_epoch": split + 1}, f)
    ref = float(mse(model, data[2], data[3]))
    del model, opt
    print(f"checkpoint written to {ckdir}")

    # ---- session 2: rebuild everything and resume ----
    model = SurgeNet(7)
    model.load_weights(os.path.join(ckdir, "model.safetensors"))
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    with open(os.path.join(ckdir, "meta.json")) as f:
        meta = json.load(f)
    mx.eval(model.parameters(), opt.state)
    back = float(mse(model, data[2], data[3]))
    print(f"resumed at epoch {meta['next_epoch']}, optimizer step {opt.step.item()}, "
          f"valid mse before/after reload {ref:.5f}/{back:.5f}")
    run_session("[s2]", model, opt, data, total_epochs - split, meta["next_epoch"])
    shutil.rmtree(ckdir)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
