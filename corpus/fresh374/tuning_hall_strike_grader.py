"""Bell foundry: classify a freshly cast bell (sound / porosity / cold shut /
core shift) from a 24-band strike spectrum.  A denoising autoencoder is first
fitted on unlabeled strike recordings and written to an .npz file; the
classifier then takes only the encoder tensors from that file (partial load),
trains its head with the encoder frozen, and finally fine-tunes everything."""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3741)
BANDS, CLASSES = 24, 4
NAMES = ["sound", "porosity", "cold_shut", "core_shift"]
freqs = np.linspace(0.0, 1.0, BANDS)


def strike(n, labels):
    # partials of a minor-third bell with per-casting tuning drift
    drift = rng.normal(0, 0.015, (n, 1))
    base = np.zeros((n, BANDS))
    for p, amp in [(0.12, 1.0), (0.25, 0.8), (0.30, 0.6), (0.37, 0.5), (0.50, 0.45), (0.66, 0.3)]:
        base += amp * np.exp(-((freqs[None, :] - p - drift) ** 2) / (2 * 0.018 ** 2))
    tilt = rng.normal(0, 0.08, (n, 1)) * (freqs[None, :] - 0.5)
    x = base + tilt
    if labels is not None:
        por = labels == 1
        x[por] += 0.35 * np.exp(-((freqs[None, :] - 0.82) ** 2) / 0.01)   # hiss band
        cold = labels == 2
        x[cold] *= np.where(freqs[None, :] > 0.45, 0.6, 1.0)               # damped upper partials
        core = labels == 3
        x[core] += 0.4 * np.exp(-((freqs[None, :] - 0.27) ** 2) / (2 * 0.01 ** 2))  # split hum
    x = np.log1p(np.maximum(x, 0) + 0.02) + rng.normal(0, 0.05, x.shape)
    return x.astype(np.float32)


def labelled(n):
    y = rng.integers(0, CLASSES, n)
    flip = rng.random(n) < 0.12                                          # log-book mistakes
    y_obs = np.where(flip, rng.integers(0, CLASSES, n), y)
    return strike(n, y), y_obs.astype(np.int32)


# unlabeled recordings contain the same defect mix, no labels kept
U = strike(20000, rng.integers(0, CLASSES, 20000))
Xtr, ytr = labelled(600)
Xva, yva = labelled(3000)
mu, sd = U.mean(0), U.std(0) + 1e-6
U, Xtr, Xva = [(a - mu) / sd for a in (U, Xtr, Xva)]
U, Xtr, Xva = mx.array(U), mx.array(Xtr), mx.array(Xva)
ytr, yva = mx.array(ytr), mx.array(yva)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(BANDS, 64)
        self.l2 = nn.Linear(64, 16)

    def __call__(self, x):
        return self.l2(nn.silu(self.l1(x)))


class DenoisingAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.dec = nn.Sequential(nn.Linear(16, 64), nn.SiLU(), nn.Linear(64, BANDS))

    def __call__(self, x):
        return self.dec(self.enc(x))


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(16, 32), nn.SiLU(), nn.Linear(32, CLASSES))

    def __call__(self, x):
        return self.head(self.enc(x))


def line(*cols):
    print(" | ".join(str(c) for c in cols))


t_start = time.time()
workdir = tempfile.mkdtemp()
ae_path = os.path.join(workdir, "strike_dae.npz")

# ---- pretext: denoising autoencoder, reported only when it is finished
mx.random.seed(11)
ae = DenoisingAE()
ae_opt = optim.Adam(learning_rate=1e-3)


def dae_loss(m, x):
    noisy = x + 0.2 * mx.random.normal(x.shape)
    return nn.losses.mse_loss(m(noisy), x)


ae_step = nn.value_and_grad(ae, dae_loss)
for s in range(1, 1501):
    idx = mx.array(rng.integers(0, U.shape[0], 128))
    l, g = ae_step(ae, U[idx])
    ae_opt.update(ae, g)
    mx.eval(ae.parameters(), ae_opt.state, l)
clean_mse = nn.losses.mse_loss(ae(U[:2000]), U[:2000]).item()
ae.save_weights(ae_path)
print(f"pretext | steps 1500 | recon mse (clean input, std units) {clean_mse:.4f} | wrote {os.path.basename(ae_path)} ({len(tree_flatten(ae.parameters()))} tensors)")

# ---- downstream
saved = mx.load(ae_path)
enc_only = [(k, v) for k, v in saved.items() if k.startswith("enc.")]
print(f"partial load | file tensors {len(saved)} | taken {len(enc_only)} (keys under enc.) | decoder tensors left behind {len(saved) - len(enc_only)}")

chance_ce = float(np.log(CLASSES))
maj = float(np.mean(np.array(yva) == np.bincount(np.array(ytr)).argmax()) * 100)
print(f"reference | uniform-guess ce {chance_ce:.3f} | majority-class acc {maj:.1f}% | label noise 12% flips")


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, label_smoothing=0.1, reduction="mean")


def score(m):
    logits = m(Xva)
    c = nn.losses.cross_entropy(logits, yva, reduction="mean")
    a = mx.mean(mx.argmax(logits, axis=1) == yva) * 100
    mx.eval(c, a)
    return c.item(), a.item()


def run(tag, pretrained):
    mx.random.seed(23)
    m = Grader()
    if pretrained:
        m.load_weights(enc_only, strict=False)
        mine = dict(tree_flatten(m.parameters()))
        same = all(mx.array_equal(mine[k], v).item() for k, v in enc_only)
        line(tag, "encoder equals file", same)
    mx.eval(m.parameters())
    c0, a0 = score(m)
    line(tag, "step 0", f"val ce {c0:.3f}", f"val acc {a0:5.1f}%")
    # stage A: encoder frozen, head only
    m.enc.freeze()
    enc_before = {k: mx.array(v) for k, v in tree_flatten(m.enc.parameters())}
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(m, ce)
    step = 0
    for stage, n_steps, lr in (("A", 300, 3e-3), ("B", 300, 3e-4)):
        if stage == "B":
            drift = max(mx.max(mx.abs(v - enc_before[k])).item()
                        for k, v in tree_flatten(m.enc.parameters()))
            line(tag, "end of stage A", f"encoder max drift {drift:.1e}")
            m.unfreeze()
            opt = optim.Adam(learning_rate=lr)
        n_train = len(tree_flatten(m.trainable_parameters()))
        line(tag, f"stage {stage}", f"trainable tensors {n_train}", f"lr {lr:.0e}")
        win = []
        for _ in range(n_steps):
            idx = mx.array(rng.integers(0, Xtr.shape[0], 64))
            l, g = vg(m, Xtr[idx], ytr[idx])
            opt.update(m, g)
            mx.eval(m.parameters(), opt.state, l)
            win.append(l.item())
            step += 1
            if step % 100 == 0:
                c, a = score(m)
                line(tag, f"step {step:3d}", f"train ce(ls) {np.mean(win):.3f}", f"val ce {c:.3f}", f"val acc {a:5.1f}%")
                win = []
    return score(m)


pre = run("pretrained", True)
scr = run("scratch   ", False)
line("final", f"pretrained val acc {pre[1]:.1f}% ce {pre[0]:.3f}", f"scratch val acc {scr[1]:.1f}% ce {scr[0]:.3f}", f"seconds {time.time() - t_start:.1f}")
os.remove(ae_path)
os.rmdir(workdir)
