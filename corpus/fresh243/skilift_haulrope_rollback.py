"""Ski-lift haul rope: regress rope tension (kN) from seven lift-log readings.

The lift log has a known stretch of telemetry from a miscalibrated load cell
(readings +35 kN).  The run trains on the clean log, keeps the last three
checkpoints (weights + optimizer state) on disk, then deliberately feeds the
miscalibrated stretch, watches validation error climb, and rolls back to the
last checkpoint taken before that stretch.  After the rollback it continues on
clean data only.  Output is ini-style sections, one per evaluation.
"""
import json
import tempfile
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["carriers_loaded", "wind_ms", "air_temp_c", "rope_age_yr",
            "line_speed_ms", "icing", "tensioner_pos"]


def lift_log(n, seed, drift=0.0):
    rng = np.random.default_rng(seed)
    carriers = rng.integers(0, 120, n).astype(np.float32)
    wind = rng.gamma(2.0, 3.0, n).astype(np.float32)
    temp = rng.normal(-6, 7, n).astype(np.float32)
    age = rng.uniform(0, 15, n).astype(np.float32)
    speed = rng.uniform(2.0, 5.0, n).astype(np.float32)
    icing = (rng.random(n) < 0.15).astype(np.float32)
    tens = rng.uniform(0.2, 0.9, n).astype(np.float32)
    y = (180 + 0.9 * carriers + 0.25 * wind ** 2 - 0.6 * temp
         + 2.5 * np.sqrt(age) + 6 * np.sin(speed) + 18 * icing * (1 + wind / 10)
         + 40 * tens * (1 - 0.1 * speed))
    y = y + rng.normal(0, 3.0, n)
    X = np.stack([carriers, wind, temp, age, speed, icing, tens], axis=1)
    return X, (y + drift).astype(np.float32)


class TensionNet(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, hidden), nn.SiLU(), nn.RMSNorm(hidden),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


def section(name, **kv):
    print(f"[{name}]")
    for k, v in kv.items():
        print(f"{k} = {v}")
    print()


def main():
    t0 = time.time()
    Xtr, ytr = lift_log(6000, seed=1)
    Xva, yva = lift_log(1200, seed=2)
    Xbad, ybad = lift_log(1500, seed=3, drift=35.0)

    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    norm = lambda X: mx.array((X - mu) / sd)
    Xtr_m, Xva_m, Xbad_m = norm(Xtr), norm(Xva), norm(Xbad)
    ytr_m = mx.array((ytr - ymu) / ysd)
    ybad_m = mx.array((ybad - ymu) / ysd)
    yva_np = yva

    mx.random.seed(0)
    model = TensionNet(len(FEATURES))
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    step_fn = nn.value_and_grad(model, loss_fn)

    def val_rmse():
        pred = np.array(model(Xva_m)) * ysd + ymu
        return float(np.sqrt(np.mean((pred - yva_np) ** 2)))

    baseline = float(np.sqrt(np.mean((ymu - yva_np) ** 2)))
    section("data", train_rows=len(ytr), valid_rows=len(yva), drift_rows=len(ybad),
            features=",".join(FEATURES), predict_mean_rmse_kN=f"{baseline:.2f}",
            noise_floor_kN="3.00")

    ckdir = Path(tempfile.mkdtemp(prefix="haulrope_"))
    ring = []

    def save_ckpt(step):
        tag = ckdir / f"step{step:05d}"
        model.save_weights(str(tag) + ".weights.safetensors")
        mx.save_safetensors(str(tag) + ".opt.safetensors", dict(tree_flatten(opt.state)))
        (Path(str(tag) + ".json")).write_text(json.dumps({"step": step}))
        ring.append(tag)
        while len(ring) > 3:
            old = ring.pop(0)
            for suffix in (".weights.safetensors", ".opt.safetensors", ".json"):
                Path(str(old) + suffix).unlink()
        return tag

    def load_ckpt(tag):
        model.load_weights(str(tag) + ".weights.safetensors")
        opt.state = tree_unflatten(list(mx.load(str(tag) + ".opt.safetensors").items()))
        mx.eval(model.parameters(), opt.state)
        return json.loads(Path(str(tag) + ".json").read_text())["step"]

    rng = np.random.default_rng(0)

    def run(first, last, X, y, source):
        window = []
        for step in range(first, last + 1):
            idx = mx.array(rng.integers(0, X.shape[0], 128))
            loss, grads = step_fn(model, X[idx], y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            if step % 200 == 0:
                r = val_rmse()
                section(f"eval {step:04d}", source=source,
                        train_mse_std=f"{np.mean(window):.4f}",
                        val_rmse_kN=f"{r:.2f}", optimizer_step=int(opt.step.item()),
                        checkpoints=len(ring), secs=f"{time.time() - t0:.1f}")
                window = []
                if source == "clean":
                    save_ckpt(step)
        return val_rmse()

    # Part 1: clean log
    run(1, 1200, Xtr_m, ytr_m, "clean")
    before = ring[-1]

    # Part 2: the miscalibrated load-cell stretch (validation error climbs)
    r_bad = run(1201, 1600, Xbad_m, ybad_m, "load_cell_drift")
    restored = load_ckpt(before)
    r_back = val_rmse()
    section("rollback", reason="val_rmse rose during the drift stretch",
            val_rmse_after_drift_kN=f"{r_bad:.2f}", restored_from=before.name,
            restored_step=restored, optimizer_step=int(opt.step.item()),
            val_rmse_restored_kN=f"{r_back:.2f}")

    # Part 3: continue on clean data from the restored step
    final = run(restored + 1, 2400, Xtr_m, ytr_m, "clean")

    for tag in ring:
        for suffix in (".weights.safetensors", ".opt.safetensors", ".json"):
            Path(str(tag) + suffix).unlink()
    ckdir.rmdir()
    section("done", val_rmse_kN=f"{final:.2f}", predict_mean_rmse_kN=f"{baseline:.2f}",
            secs=f"{time.time() - t0:.1f}")


if __name__ == "__main__":
    main()
