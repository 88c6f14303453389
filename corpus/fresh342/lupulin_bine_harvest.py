# Hop garden: call the harvest state of a hop yard row (4 classes: green /
# ready / over-ripe / downy-mildew hit) from 8 synthetic cone and weather
# readings. Stage 1 trains a classifier with label-smoothed cross-entropy,
# saving a checkpoint half way and resuming from it in a fresh process-like
# state (new model object, new optimizer, both loaded from disk). Stage 2 keeps
# the classifier frozen and fits one temperature on a held-out calibration
# split, so only a single scalar moves there.
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_TR, N_CAL, N_TE = 5000, 1500, 1500
SMOOTH = 0.1
BATCH = 100
EPOCHS = 16
HALF = EPOCHS // 2
CLASSES = ["green", "ready", "over-ripe", "mildew"]

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_rows(n):
    dry_matter = rng.normal(22, 2.5, n)        # % cone dry matter
    alpha = rng.normal(11, 2, n)               # % alpha acids
    lupulin = rng.uniform(0, 1, n)             # yellow -> amber colour index
    bract_brown = rng.beta(2, 6, n)            # browning fraction
    leaf_wet_h = rng.gamma(2, 4, n)            # leaf-wetness hours last week
    rh = rng.normal(75, 10, n)                 # %
    days_burr = rng.normal(35, 7, n)           # days since burr stage
    aroma = rng.normal(0, 1, n)                # panel aroma score
    ripe = 0.35 * (dry_matter - 22) + 1.8 * lupulin + 0.09 * (days_burr - 35) + 0.3 * aroma
    mildew = 0.12 * leaf_wet_h + 0.05 * (rh - 75) + 3.0 * bract_brown - 2.6
    logits = np.stack([-ripe - 0.8, 0.6 - np.abs(ripe - 0.9), ripe - 2.4, 2.2 * mildew], 1)
    logits = logits + rng.gumbel(0, 0.6, logits.shape)
    y = logits.argmax(1)
    x = np.stack([dry_matter, alpha, lupulin, bract_brown, leaf_wet_h, rh, days_burr, aroma], 1)
    return x.astype(np.float32), y


x, y = make_rows(N_TR + N_CAL + N_TE)
mu, sd = x[:N_TR].mean(0), x[:N_TR].std(0)
x = (x - mu) / sd
splits = np.split(np.arange(len(y)), [N_TR, N_TR + N_CAL])
(x_tr, y_tr), (x_cal, y_cal), (x_te, y_te) = [(mx.array(x[s]), mx.array(y[s])) for s in splits]
print("class shares (train):", np.round(np.bincount(y[:N_TR], minlength=4) / N_TR, 3).tolist())


class HopNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(self.body(x))


def smoothed_ce(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, label_smoothing=SMOOTH, reduction="mean")


def calib_stats(logits, labels, n_bins=10):
    p = mx.softmax(logits, axis=-1)
    conf = mx.max(p, axis=-1)
    pred = mx.argmax(p, axis=-1)
    correct = (pred == labels).astype(mx.float32)
    nll = mx.mean(nn.losses.cross_entropy(logits, labels)).item()
    conf_np, corr_np = np.array(conf), np.array(correct)
    ece = 0.0
    for lo in np.linspace(0, 1, n_bins, endpoint=False):
        m = (conf_np > lo) & (conf_np <= lo + 1.0 / n_bins)
        if m.any():
            ece += m.mean() * abs(conf_np[m].mean() - corr_np[m].mean())
    return corr_np.mean(), nll, ece, conf_np.mean()


def run_epochs(model, opt, first, last):
    lg = nn.value_and_grad(model, smoothed_ce)
    for ep in range(first, last + 1):
        perm = mx.array(rng.permutation(N_TR))
        tot = 0.0
        for i in range(N_TR // BATCH):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, g = lg(model, x_tr[idx], y_tr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
        acc, nll, ece, _ = calib_stats(model(x_te), y_te)
        print(f"epoch {ep:2d}  smoothed CE {tot / (N_TR // BATCH):.4f}  test acc {acc:.3f}  "
              f"test NLL {nll:.4f}  ECE {ece:.4f}")


t0 = time.time()
ckpt_dir = tempfile.mkdtemp()
w_path = os.path.join(ckpt_dir, "hopnet.safetensors")
o_path = os.path.join(ckpt_dir, "adam_state.safetensors")

print(f"stage 1: label-smoothed CE (eps={SMOOTH}), Adam 2e-3, {EPOCHS} epochs")
model = HopNet()
opt = optim.Adam(learning_rate=2e-3)
run_epochs(model, opt, 1, HALF)
model.save_weights(w_path)
mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
print(f"checkpoint written after epoch {HALF}; resuming from disk")

model = HopNet()
model.load_weights(w_path)
opt = optim.Adam(learning_rate=2e-3)
opt.state = tree_unflatten(list(mx.load(o_path).items()))
print(f"resumed optimizer step = {opt.state['step'].item()}")
run_epochs(model, opt, HALF + 1, EPOCHS)

# majority-class baseline for reference
maj = int(np.bincount(y[:N_TR]).argmax())
print(f"majority-class test acc {np.mean(np.array(y_te) == maj):.3f}")

print("stage 2: temperature fit on the calibration split (classifier frozen)")
model.freeze()
before = {k: v for k, v in tree_flatten(model.parameters())}
cal_logits = mx.stop_gradient(model(x_cal))
te_logits = mx.stop_gradient(model(x_te))
mx.eval(cal_logits, te_logits)


class Temp(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_t = mx.zeros((1,))

    def __call__(self, z):
        return z / mx.exp(self.log_t)


temp = Temp()
topt = optim.Adam(learning_rate=0.05)
tlg = nn.value_and_grad(temp, lambda m, z, yy: mx.mean(nn.losses.cross_entropy(m(z), yy)))
for _ in range(300):
    l, g = tlg(temp, cal_logits, y_cal)
    topt.update(temp, g)
    mx.eval(temp.parameters(), topt.state)

T = float(mx.exp(temp.log_t).item())
acc0, nll0, ece0, c0 = calib_stats(te_logits, y_te)
acc1, nll1, ece1, c1 = calib_stats(temp(te_logits), y_te)
drift = max(float(mx.max(mx.abs(v - before[k])).item()) for k, v in tree_flatten(model.parameters()))
print(f"fitted temperature T = {T:.3f}")
print(f"test before: acc {acc0:.3f} NLL {nll0:.4f} ECE {ece0:.4f} mean conf {c0:.3f}")
print(f"test after : acc {acc1:.3f} NLL {nll1:.4f} ECE {ece1:.4f} mean conf {c1:.3f}")
print(f"classifier weight drift during stage 2: {drift:.1e}")
print(f"done in {time.time() - t0:.1f}s")
