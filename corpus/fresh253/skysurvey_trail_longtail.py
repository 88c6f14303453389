# Sky-survey frame triage: clean frame / satellite trail / aircraft lights /
# cosmic-ray hit from 16 summary features of a cutout. Long-tailed classes.
# Stage 1 draws classes uniformly (class-balanced sampler) with plain cross
# entropy; the checkpoint is then reloaded into a fresh model and stage 2
# trains on the natural frame distribution with logit-adjusted cross entropy
# (prior-shifted logits during training only), restarting the learning-rate
# warm-up from zero.
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
mx.random.seed(3)

CLASSES = ["clean", "sat_trail", "aircraft", "cosmic_ray"]
PRIOR = np.array([0.85, 0.09, 0.04, 0.02])
D_LAT, D_OBS = 6, 16

centres = rng.normal(0, 1.0, (4, D_LAT))
mix_a = rng.normal(0, 0.6, (D_LAT, D_OBS))
mix_b = rng.normal(0, 0.6, (D_OBS, D_OBS))


def frames(n):
    y = rng.choice(4, size=n, p=PRIOR)
    z = centres[y] + rng.normal(0, 0.9, (n, D_LAT))
    h = np.tanh(z @ mix_a)
    x = h @ mix_b + 0.35 * np.sin(2.0 * h) + rng.normal(0, 0.25, (n, D_OBS))
    return x.astype(np.float32), y.astype(np.int32)


x_tr, y_tr = frames(12000)
x_va, y_va = frames(4000)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr = (x_tr - mu) / sd
x_va = (x_va - mu) / sd
by_class = [np.flatnonzero(y_tr == c) for c in range(4)]
train_prior = np.bincount(y_tr, minlength=4) / len(y_tr)
log_prior = mx.array(np.log(train_prior).astype(np.float32))
Xva, Yva = mx.array(x_va), mx.array(y_va)

print("train counts: " + " ".join(f"{c}={len(i)}" for c, i in zip(CLASSES, by_class)))


class Triage(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D_OBS, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        return self.head(self.body(x))


def plain_ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def adjusted_ce(model, x, y, tau=1.0):
    return nn.losses.cross_entropy(model(x) + tau * log_prior, y, reduction="mean")


def evaluate(model):
    pred = np.array(mx.argmax(model(Xva), axis=1))
    acc = float((pred == y_va).mean())
    recalls = np.array([(pred[y_va == c] == c).mean() for c in range(4)])
    return acc, float(recalls.mean()), recalls


MAJ_ACC = float((y_va == 0).mean())
MAJ_BAL = 0.25
BATCH = 128


def balanced_batch():
    cls = rng.integers(0, 4, BATCH)
    idx = np.array([by_class[c][rng.integers(len(by_class[c]))] for c in cls])
    return mx.array(x_tr[idx]), mx.array(y_tr[idx])


def natural_batch():
    idx = rng.integers(0, len(y_tr), BATCH)
    return mx.array(x_tr[idx]), mx.array(y_tr[idx])


def report(tag, step, lr, loss, model):
    acc, bal, rec = evaluate(model)
    print(f"{tag} step {step:4d} lr {lr:.2e} loss {loss:.4f} | val acc {acc:.3f} (majority {MAJ_ACC:.3f}, "
          f"gain {acc - MAJ_ACC:+.3f}) bal_acc {bal:.3f} (majority {MAJ_BAL:.2f}) | recall "
          + " ".join(f"{c}={r:.2f}" for c, r in zip(CLASSES, rec)))


def train(model, loss_fn, batch_fn, schedule, steps, tag, quiet=()):
    opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    for s in range(steps):
        x, y = batch_fn()
        loss, g = step_fn(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if s == 0 or (s + 1) % 50 == 0:
            if (s + 1) in quiet:
                continue
            report(tag, s + 1, float(schedule(s)), loss.item(), model)
    return model


model = Triage()
mx.eval(model.parameters())
report("init  ", 0, 0.0, plain_ce(model, Xva, Yva).item(), model)

S1 = 350
sched1 = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 50),
                               optim.cosine_decay(3e-3, S1 - 50, end=3e-4)], [50])
train(model, plain_ce, balanced_batch, sched1, S1, "stage1")

ckpt = os.path.join(tempfile.mkdtemp(prefix="sky_"), "stage1.safetensors")
model.save_weights(ckpt)
print(f"stage 1 weights saved ({os.path.basename(ckpt)})")

model2 = Triage()
model2.load_weights(ckpt)
mx.eval(model2.parameters())
report("reload", 0, 0.0, adjusted_ce(model2, Xva, Yva).item(), model2)

S2 = 350
sched2 = optim.join_schedules([optim.linear_schedule(0.0, 1.5e-3, 30),
                               optim.cosine_decay(1.5e-3, S2 - 30, end=1e-4)], [30])
# rows 100..250 are not printed: nothing is logged in the middle of stage 2
train(model2, adjusted_ce, natural_batch, sched2, S2, "stage2", quiet=(100, 150, 200, 250))

acc, bal, rec = evaluate(model2)
print(f"final: val acc {acc:.3f} vs majority {MAJ_ACC:.3f}; balanced acc {bal:.3f} vs majority {MAJ_BAL:.2f}; "
      f"min class recall {rec.min():.2f}")
