"""Fit a camera colour pipeline to colour-chart shots.

raw RGB (linear, camera primaries, unknown white balance)
  -> per-channel white-balance gains (softplus)
  -> 3x3 colour-correction matrix (rows constrained to sum to 1)
  -> display gamma (softplus(g) + 1)
  -> sRGB-ish target

24 chart patches photographed under 40 random illuminants (one shot = one
illuminant), with sensor noise.  Training uses SGD with a step-decay schedule;
one line per epoch with the mean and worst per-patch RGB error (x255) on held
out illuminants.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(2024)

# ground-truth scene reflectances of the chart in display-linear space
chart_lin = rng.uniform(0.03, 0.9, size=(24, 3)).astype(np.float32)
chart_lin[18:] = np.linspace(0.9, 0.03, 6)[:, None]  # neutral row
TRUE_CCM = np.array([[1.62, -0.45, -0.17],
                     [-0.21, 1.38, -0.17],
                     [0.02, -0.52, 1.50]], np.float32)
TRUE_GAMMA = 2.2
inv_ccm = np.linalg.inv(TRUE_CCM).astype(np.float32)


def shoot(n_illum):
    raws, targets = [], []
    for _ in range(n_illum):
        illum = rng.uniform(0.6, 1.4, size=3).astype(np.float32)
        cam = chart_lin @ inv_ccm.T          # camera primaries
        raw = cam * illum                     # illuminant cast
        raw = raw * rng.uniform(0.8, 1.2)     # exposure
        raw = raw + 0.004 * rng.normal(size=raw.shape)
        # the neutral patches tell us the cast: a per-shot "grey card" estimate
        gray = raw[18:].mean(axis=0) / cam[18:].mean(axis=0)
        raws.append(np.concatenate([raw, np.repeat(gray[None], 24, 0)], 1))
        targets.append(np.clip(chart_lin, 0, 1) ** (1 / TRUE_GAMMA))
    return (mx.array(np.stack(raws).astype(np.float32)),
            mx.array(np.stack(targets).astype(np.float32)))


train_raw, train_tgt = shoot(4000)
val_raw, val_tgt = shoot(60)


class Pipeline(nn.Module):
    def __init__(self):
        super().__init__()
        self.wb_bias = mx.zeros((3,))
        self.ccm_raw = mx.array(np.eye(3, dtype=np.float32) * 0.5)
        self.gamma_raw = mx.array(0.5)
        self.black = mx.zeros((3,))

    def ccm(self):
        # enforce row sums of 1 (white stays white)
        m = self.ccm_raw
        return m - mx.mean(m, axis=1, keepdims=True) + 1.0 / 3.0

    def __call__(self, shots):
        raw, gray = shots[..., :3], shots[..., 3:]
        gains = nn.softplus(self.wb_bias + 0.5413) / gray  # softplus(0.5413)=1
        lin = (raw - 0.01 * self.black) * gains
        out = lin @ self.ccm().T
        g = nn.softplus(self.gamma_raw) + 1.0
        return mx.power(mx.clip(out, 1e-4, 4.0), 1.0 / g)


def loss_fn(model, raw, tgt):
    return mx.mean((model(raw) - tgt) ** 2)


model = Pipeline()
mx.eval(model.parameters())
steps_per_epoch = 60
sched = optim.step_decay(0.8, 0.6, 10 * steps_per_epoch)
opt = optim.SGD(learning_rate=sched, momentum=0.9)
lg = nn.value_and_grad(model, loss_fn)

for epoch in range(1, 61):
    perm = np.random.default_rng(epoch).permutation(train_raw.shape[0])
    run = 0.0
    for b in range(steps_per_epoch):
        idx = mx.array(perm[b * 64:(b + 1) * 64])
        loss, grads = lg(model, train_raw[idx], train_tgt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        run += loss.item()
    err = mx.abs(model(val_raw) - val_tgt) * 255.0
    per_patch = mx.mean(err, axis=(0, 2))
    g = (nn.softplus(model.gamma_raw) + 1.0).item()
    print(f"ep {epoch:02d} | train mse {run / steps_per_epoch:.5f} | "
          f"val mean err {mx.mean(per_patch).item():6.2f} | "
          f"worst patch {mx.max(per_patch).item():6.2f} | gamma {g:.3f} | "
          f"lr {opt.learning_rate.item():.3f}")

print("fitted CCM:\n", np.round(np.array(model.ccm()), 3))
