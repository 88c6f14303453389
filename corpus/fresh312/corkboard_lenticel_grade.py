"""Natural cork stopper grading: 5 visual grades (extra, superior, first, second, third)
from 12 synthetic line-scan measurements. Dropout MLP, periodic evaluation in eval mode,
a checkpoint written half way and the run resumed from it in fresh objects."""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

GRADES = ["extra", "superior", "first", "second", "third"]
rng = np.random.default_rng(7)


def make_corks(n):
    g = rng.integers(0, 5, size=n)
    q = g + rng.normal(0, 0.55, size=n)  # latent defect level
    x = np.stack([
        0.4 + 0.9 * q + rng.normal(0, 0.5, n),            # lenticel count /cm2
        1.2 + 0.35 * q + rng.normal(0, 0.3, n),           # mean pore area mm2
        0.1 * q ** 2 + rng.normal(0, 0.4, n),             # largest pore
        -0.5 * q + rng.normal(0, 0.6, n),                 # surface brightness
        0.3 * np.sin(q) + rng.normal(0, 0.5, n),          # colour hue shift
        0.25 * q + rng.normal(0, 0.7, n),                 # crack length
        rng.normal(0, 1, n),                              # moisture (uninformative)
        0.2 * q + rng.normal(0, 0.8, n),                  # density deviation
        -0.3 * q + rng.normal(0, 0.5, n),                 # elasticity
        0.15 * q * rng.normal(1, 0.2, n) + rng.normal(0, 0.5, n),
        rng.normal(0, 1, n),                              # batch id noise
        0.45 * q + rng.normal(0, 0.9, n),                 # belly spot score
    ], axis=1).astype(np.float32)
    return x, g.astype(np.int32)


xtr, ytr = make_corks(6000)
xva, yva = make_corks(1500)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))


class CorkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(12, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 5)
        self.drop = nn.Dropout(0.35)

    def __call__(self, x):
        h = self.drop(nn.gelu(self.l1(x)))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


EPOCHS, HALF, BATCH = 12, 6, 100
STEPS_PER_EPOCH = len(xtr) // BATCH
schedule = optim.cosine_decay(3e-3, EPOCHS * STEPS_PER_EPOCH, 1e-4)


def evaluate(model):
    model.eval()
    logits = model(Xva)
    loss = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
    top2 = mx.argsort(-logits, axis=1)[:, :2]
    pred = np.array(top2[:, 0])
    acc1 = float((pred == yva).mean())
    acc2 = float(np.array(mx.any(top2 == Yva[:, None], axis=1)).mean())
    f1s = []
    for c in range(5):
        tp = np.sum((pred == c) & (yva == c))
        fp = np.sum((pred == c) & (yva != c))
        fn = np.sum((pred != c) & (yva == c))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    model.train()
    return loss, acc1, acc2, float(np.mean(f1s))


def run_epochs(model, opt, first, last, perm_rng):
    step = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last + 1):
        t0 = time.time()
        perm = mx.array(perm_rng.permutation(len(xtr)))
        tot = 0.0
        for b in range(STEPS_PER_EPOCH):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        vl, a1, a2, f1 = evaluate(model)
        print(f"epoch={ep:02d} lr={opt.learning_rate.item():.2e} train_ce_dropout={tot / STEPS_PER_EPOCH:.4f} "
              f"val_ce={vl:.4f} val_top1_pct={100 * a1:.1f} val_top2_pct={100 * a2:.1f} "
              f"val_macro_f1={f1:.3f} secs={time.time() - t0:.2f}")


# baselines
maj = np.bincount(ytr).argmax()
cent = np.stack([xtr[ytr == c].mean(0) for c in range(5)])
nc_pred = np.argmin(((xva[:, None, :] - cent[None]) ** 2).sum(-1), axis=1)
prior = np.bincount(ytr, minlength=5) / len(ytr)
print(f"baseline majority_top1_pct={100 * np.mean(yva == maj):.1f} "
      f"nearest_centroid_top1_pct={100 * np.mean(nc_pred == yva):.1f} "
      f"prior_ce={-np.mean(np.log(prior[yva])):.4f}")

mx.random.seed(0)
model = CorkNet()
model.train()
opt = optim.Adam(learning_rate=schedule)
vl, a1, a2, f1 = evaluate(model)
print(f"epoch=00 untrained val_ce={vl:.4f} val_top1_pct={100 * a1:.1f} val_top2_pct={100 * a2:.1f} val_macro_f1={f1:.3f}")

perm_rng = np.random.default_rng(11)
run_epochs(model, opt, 1, HALF, perm_rng)

ckpt = tempfile.mkdtemp("", "corks_")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written after epoch={HALF} step={opt.step.item()}")
del model, opt

# resume in fresh objects
mx.random.seed(123)
model = CorkNet()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
model.train()
opt = optim.Adam(learning_rate=schedule)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
vl, a1, a2, f1 = evaluate(model)
print(f"resumed step={opt.step.item()} lr={opt.learning_rate.item():.2e} val_ce={vl:.4f} val_top1_pct={100 * a1:.1f}")
run_epochs(model, opt, HALF + 1, EPOCHS, perm_rng)

# Monte Carlo dropout: dropout kept on for 30 stochastic passes
model.train()
probs = mx.stack([mx.softmax(model(Xva), axis=-1) for _ in range(30)]).mean(0)
ent = np.array(-(probs * mx.log(probs + 1e-9)).sum(-1))
mc_pred = np.array(mx.argmax(probs, axis=1))
ok = mc_pred == yva
print(f"mc_dropout passes=30 top1_pct={100 * ok.mean():.1f} entropy_correct={ent[ok].mean():.3f} "
      f"entropy_missed={ent[~ok].mean():.3f}")
cm = np.zeros((5, 5), int)
for t, p in zip(yva, mc_pred):
    cm[t, p] += 1
for i, g in enumerate(GRADES):
    print(f"recall grade={g} pct={100 * cm[i, i] / cm[i].sum():.1f}")
print("done")
