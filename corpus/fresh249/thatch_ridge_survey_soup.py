# Thatched-roof survey: 4-way repair urgency from 9 survey readings.
# Label-smoothed cross-entropy, Adafactor with a linear ramp from 0, one
# safetensors checkpoint per epoch, then a uniform average of the last
# five epoch checkpoints compared with the final and the best-on-valid ones.
import glob
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

CLASSES = ["sound", "ridge-due", "patch", "recoat"]
FEATS = ["reed_depth_cm", "moss_pct", "ridge_age_y", "pitch_deg", "rain_mm",
         "shade", "bird_holes", "exposure", "coat_age_y"]


def make_roofs(n, rng):
    depth = rng.normal(30, 6, n)
    moss = rng.beta(2, 5, n) * 100
    ridge = rng.uniform(0, 20, n)
    pitch = rng.normal(50, 5, n)
    rain = rng.normal(900, 200, n)
    shade = rng.uniform(0, 1, n)
    holes = rng.poisson(2, n).astype(np.float64)
    expo = rng.uniform(0, 1, n)
    coat = rng.uniform(0, 40, n)
    X = np.stack([depth, moss, ridge, pitch, rain, shade, holes, expo, coat], 1)
    s_ridge = 0.35 * (ridge - 10) + 0.8 * expo
    s_patch = 0.5 * (holes - 2) + 0.03 * (moss - 25) + 0.9 * shade
    s_recoat = 0.18 * (coat - 20) - 0.15 * (depth - 30) + 0.002 * (rain - 900)
    s_sound = np.full(n, 0.6) - 0.02 * np.abs(pitch - 50)
    S = np.stack([s_sound, s_ridge, s_patch, s_recoat], 1)
    y = np.argmax(S + rng.gumbel(0, 0.6, S.shape), 1)
    return X.astype(np.float32), y.astype(np.int32)


rng = np.random.default_rng(2024)
Xtr, ytr = make_roofs(6000, rng)
Xva, yva = make_roofs(1500, rng)
Xte, yte = make_roofs(1500, rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva, Xte = [(x - mu) / sd for x in (Xtr, Xva, Xte)]
Xtr, Xva, Xte = map(mx.array, (Xtr, Xva, Xte))
ytr, yva, yte = map(mx.array, (ytr, yva, yte))
counts = np.bincount(np.array(ytr), minlength=4)
majority = float((np.array(yte) == counts.argmax()).mean())
print("class shares (train): " + ", ".join(
    f"{c} {100 * k / counts.sum():.1f}%" for c, k in zip(CLASSES, counts)))


class RoofNet(nn.Module):
    def __init__(self, d_in=9, width=64, n_out=4, p=0.1):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.hidden = [nn.Linear(width, width) for _ in range(2)]
        self.norms = [nn.LayerNorm(width) for _ in range(2)]
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(width, n_out)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        for lin, ln in zip(self.hidden, self.norms):
            h = h + self.drop(nn.silu(lin(ln(h))))
        return self.out(h)


SMOOTH = 0.1


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=SMOOTH,
                                   reduction="mean")


def scores(model, X, y):
    model.eval()
    logits = model(X)
    nll = nn.losses.cross_entropy(logits, y, reduction="mean")
    top1 = (mx.argmax(logits, 1) == y).mean()
    top2 = (mx.argsort(-logits, 1)[:, :2] == y[:, None]).any(1).mean()
    mx.eval(nll, top1, top2)
    model.train()
    return nll.item(), top1.item(), top2.item()


# smoothed-CE floor: even a perfect classifier pays this
floor = -(1 - SMOOTH + SMOOTH / 4) * np.log(1 - SMOOTH + SMOOTH / 4) \
        - 3 * (SMOOTH / 4) * np.log(SMOOTH / 4)
print(f"label-smoothing floor of the train loss: {floor:.3f} nats")

mx.random.seed(11)
model = RoofNet()
EPOCHS, BS = 30, 60
steps_per_epoch = Xtr.shape[0] // BS
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, steps_per_epoch),
     optim.step_decay(3e-3, 0.5, 8 * steps_per_epoch)],
    [steps_per_epoch])
opt = optim.Adafactor(learning_rate=sched, relative_step=False,
                      scale_parameter=False)
step_fn = nn.value_and_grad(model, loss_fn)

ckpt_dir = tempfile.mkdtemp(prefix="thatch_ckpt_")
nll0, acc0, _ = scores(model, Xva, yva)
print(f"untrained: valid nll {nll0:.3f}, acc {100 * acc0:.1f}%  "
      f"(majority baseline {100 * majority:.1f}%)")
print("training quietly; a line every 5 epochs")

history = []
t0 = time.perf_counter()
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(np.random.default_rng(epoch).permutation(Xtr.shape[0]))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        lr_used = sched(opt.step).item()
        loss, grads = step_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        if epoch == 1 and b == 0:
            print(f"first update used lr {lr_used:.1e} (ramp starts at zero)")
    path = os.path.join(ckpt_dir, f"epoch_{epoch:03d}.safetensors")
    mx.save_safetensors(path, dict(tree_flatten(model.parameters())))
    v_nll, v_acc, v_top2 = scores(model, Xva, yva)
    history.append((epoch, v_nll, v_acc))
    if epoch % 5 == 0 or epoch == 1:
        print(f"ep {epoch:2d} | lr {sched(opt.step).item():.2e} | "
              f"train smoothed-CE {tot / steps_per_epoch:.3f} | valid nll "
              f"{v_nll:.3f} acc {100 * v_acc:.1f}% top2 {100 * v_top2:.1f}% | "
              f"{time.perf_counter() - t0:.1f}s")

files = sorted(glob.glob(os.path.join(ckpt_dir, "epoch_*.safetensors")))
print(f"{len(files)} checkpoints on disk")


def load_into(m, weights):
    m.update(tree_unflatten(list(weights.items())))
    mx.eval(m.parameters())
    return m


best_epoch = min(history, key=lambda r: r[1])[0]
best = load_into(RoofNet(), mx.load(files[best_epoch - 1]))
last = [mx.load(f) for f in files[-5:]]
avg = {k: sum(w[k] for w in last) / len(last) for k in last[0]}
soup = load_into(RoofNet(), avg)

print(f"{'weights':<22}{'valid nll':>10}{'valid acc':>11}{'test acc':>10}{'test top2':>11}")
for name, m in [("final (epoch 30)", model), (f"best valid (epoch {best_epoch})", best),
                ("mean of last 5", soup)]:
    vn, va, _ = scores(m, Xva, yva)
    tn, ta, t2 = scores(m, Xte, yte)
    print(f"{name:<22}{vn:>10.3f}{100 * va:>10.1f}%{100 * ta:>9.1f}%{100 * t2:>10.1f}%")
print(f"{'majority class':<22}{'':>10}{'':>11}{100 * majority:>9.1f}%")
