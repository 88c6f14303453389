# Bell foundry tuning model: import a channels-first (PyTorch-style) checkpoint into
# MLX, check the import against a numpy reference forward, then fine-tune.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
L, C_IN, C1, C2 = 64, 2, 12, 16
NOISE = 0.1


def torch_style_checkpoint():
    return {
        "features.0.weight": rng.normal(0, 0.4, (C1, C_IN, 5)).astype(np.float32),
        "features.0.bias": rng.normal(0, 0.1, (C1,)).astype(np.float32),
        "features.2.weight": rng.normal(0, 0.2, (C2, C1, 5)).astype(np.float32),
        "features.2.bias": rng.normal(0, 0.1, (C2,)).astype(np.float32),
        "regressor.weight": rng.normal(0, 0.3, (1, 2 * C2)).astype(np.float32),
        "regressor.bias": np.zeros((1,), np.float32),
    }


def np_forward(sd, x_ncl):
    # reference forward in PyTorch layout (N, C, L), zero padding of 2 on both sides
    def conv(x, w, b):
        k = w.shape[2]
        xp = np.pad(x, ((0, 0), (0, 0), (k // 2, k // 2)))
        out = np.zeros((x.shape[0], w.shape[0], x.shape[2]), np.float32)
        for t in range(x.shape[2]):
            out[:, :, t] = np.einsum("nck,ock->no", xp[:, :, t:t + k], w) + b
        return out
    h = np.maximum(conv(x_ncl, sd["features.0.weight"], sd["features.0.bias"]), 0)
    h = np.maximum(conv(h, sd["features.2.weight"], sd["features.2.bias"]), 0)
    pooled = np.concatenate([h.mean(2), h.max(2)], 1)
    return pooled @ sd["regressor.weight"].T + sd["regressor.bias"]


class PartialNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(C_IN, C1, 5, padding=2)
        self.conv2 = nn.Conv1d(C1, C2, 5, padding=2)
        self.head = nn.Linear(2 * C2, 1)

    def __call__(self, x):  # x: (N, L, C)
        h = nn.relu(self.conv1(x))
        h = nn.relu(self.conv2(h))
        pooled = mx.concatenate([h.mean(1), h.max(1)], axis=1)
        return self.head(pooled)


def import_checkpoint(sd):
    names = {"features.0": "conv1", "features.2": "conv2", "regressor": "head"}
    out = []
    for k, v in sd.items():
        mod_key, leaf = k.rsplit(".", 1)
        a = mx.array(v)
        if a.ndim == 3:  # (out, in, k) -> (out, k, in)
            a = a.transpose(0, 2, 1)
        out.append((f"{names[mod_key]}.{leaf}", a))
    return out


def make_data(n, teacher):
    t = np.linspace(0, 1, L, dtype=np.float32)
    f = rng.uniform(3, 9, (n, 1)).astype(np.float32)
    detune = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    hum = np.sin(2 * np.pi * f * t) * np.exp(-2 * t)
    prime = np.sin(2 * np.pi * 2 * f * (1 + 0.05 * detune) * t) * np.exp(-3 * t)
    x_ncl = np.stack([hum, prime], 1).astype(np.float32) + rng.normal(0, 0.05, (n, 2, L)).astype(np.float32)
    y = np_forward(teacher, x_ncl) + NOISE * rng.normal(size=(n, 1)).astype(np.float32)
    return x_ncl, y.astype(np.float32)


teacher = torch_style_checkpoint()
shipped = {k: v + rng.normal(0, 0.08, v.shape).astype(np.float32) for k, v in teacher.items()}
xtr, ytr = make_data(3000, teacher)
xva, yva = make_data(600, teacher)

model = PartialNet()
model.load_weights(import_checkpoint(shipped), strict=True)
mx.eval(model.parameters())

probe = xva[:32]
gap = np.abs(np.array(model(mx.array(probe.transpose(0, 2, 1)))) - np_forward(shipped, probe)).max()
print(f"import check: max |mlx - numpy reference| = {gap:.2e} over 32 clips")
assert gap < 1e-4

Xtr, Ytr = mx.array(xtr.transpose(0, 2, 1)), mx.array(ytr)
Xva, Yva = mx.array(xva.transpose(0, 2, 1)), mx.array(yva)
mean_mse = float(((yva - ytr.mean()) ** 2).mean())


def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y)


def val_mse():
    return mse(model, Xva, Yva).item()


print(f"baselines: predict-the-mean val mse {mean_mse:.4f}, label noise floor {NOISE**2:.4f}")
print(f"imported checkpoint, no tuning: val mse {val_mse():.4f}")

steps_per_epoch, epochs = 3000 // 60, 12
sched = optim.step_decay(0.02, 0.3, 4 * steps_per_epoch)
opt = optim.SGD(learning_rate=sched, momentum=0.9)
grad_fn = nn.value_and_grad(model, mse)
print("epoch,lr,train_mse,val_mse,val_over_floor,secs")
t0 = time.time()
for ep in range(1, epochs + 1):
    perm = mx.array(rng.permutation(3000))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * 60:(i + 1) * 60]
        loss, g = grad_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    v = val_mse()
    print(f"{ep},{opt.learning_rate.item():.4f},{tot / steps_per_epoch:.4f},{v:.4f},{v / NOISE**2:.2f},{time.time() - t0:.1f}")
print(f"final val mse {val_mse():.4f} (mean baseline {mean_mse:.4f}, floor {NOISE**2:.4f})")
