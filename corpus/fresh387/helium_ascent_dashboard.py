import os, sys, tempfile, time, json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

# weather-balloon launches: burst altitude (km) from fill, payload, balloon mass, surface temp, humidity, jet wind
rng = np.random.default_rng(5)
N = 5000
lift = rng.uniform(0.8, 2.5, N); payload = rng.uniform(0.2, 1.5, N); mass = rng.choice([0.3, 0.6, 0.8, 1.2], N)
tsurf = rng.normal(12, 9, N); rh = rng.uniform(10, 95, N); jet = rng.gamma(3, 12, N)
burst = 18 + 9 * np.log1p(mass) - 2.2 * np.log(lift / payload + 0.5) + 0.05 * tsurf - 0.01 * rh - 0.015 * jet
y = (burst + rng.normal(0, 0.9, N)).astype(np.float32)
X = np.stack([lift, payload, mass, tsurf, rh, jet], 1).astype(np.float32)
X = (X - X[:4000].mean(0)) / X[:4000].std(0)
Xtr, Ytr, Xte, Yte = mx.array(X[:4000]), mx.array(y[:4000]), mx.array(X[4000:]), mx.array(y[4000:])
ybar = float(y[:4000].mean())

def make():
    m = nn.Sequential(nn.Linear(6, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, 1))
    m.layers[-1].bias = mx.array([ybar])
    return m

def mse(m, x, yy):
    return ((m(x)[:, 0] - yy) ** 2).mean()

def draw(lines, first):
    if not first:
        sys.stdout.write(f"\x1b[{len(lines)}F")
    for ln in lines:
        sys.stdout.write("\x1b[2K" + ln + "\n")
    sys.stdout.flush()

def session(label, start, stop, ckpt, seed):
    mx.random.seed(seed)
    model = make()
    opt = optim.RMSprop(learning_rate=1e-3, alpha=0.95)
    opt.init(model.trainable_parameters())
    if start > 0:
        model.load_weights(os.path.join(ckpt, "w.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
        meta = json.load(open(os.path.join(ckpt, "meta.json")))
        print(f"{label}: resumed at step {meta['step']}, stored test RMSE {meta['rmse']:.4f} km, now {mse(model, Xte, Yte).sqrt().item():.4f} km")
    vg = nn.value_and_grad(model, mse)
    first, hist, t0 = True, [], time.perf_counter()
    for s in range(start + 1, stop + 1):
        idx = mx.array(rng.integers(0, 4000, 64))
        l, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l)
        hist.append(l.item())
        if s % 100 == 0 or s == stop:
            rmse = mse(model, Xte, Yte).sqrt().item()
            bar = "#" * int(30 * (s - start) / (stop - start))
            draw([f"{label} [{bar:<30}] step {s}/{stop}",
                  f"  train mse (last 100) {np.mean(hist[-100:]):8.4f} km^2",
                  f"  test rmse            {rmse:8.4f} km   (noise sd 0.90, climatology {np.std(y[4000:]):.3f})",
                  f"  elapsed              {time.perf_counter() - t0:8.1f} s"], first)
            first = False
    model.save_weights(os.path.join(ckpt, "w.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    json.dump({"step": stop, "rmse": rmse}, open(os.path.join(ckpt, "meta.json"), "w"))
    return rmse

with tempfile.TemporaryDirectory() as ckpt:
    r1 = session("launch-window 1", 0, 1500, ckpt, seed=1)
    r2 = session("launch-window 2", 1500, 3000, ckpt, seed=99)
print(f"final test RMSE {r2:.3f} km after resume (was {r1:.3f} at the checkpoint)")
