"""Hop kiln: grade a batch of dried hop cones (under-dried / ready / scorched)
from 8 kiln readings. Residual MLP with dropout and drop-path, label-smoothed
cross entropy, AdamW with a linear warmup from 0 then cosine decay.
A checkpoint is written half-way and training resumes from it in a fresh
model/optimizer, as a user would after an interrupted run."""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_kiln(n):
    # air temp, airflow, bed depth, hours, ambient RH, cone size, variety oil, reek moisture
    x = rng.normal(size=(n, 8)).astype(np.float32)
    dryness = (1.1 * x[:, 0] + 0.8 * x[:, 3] + 0.6 * x[:, 1] - 0.7 * x[:, 2]
               - 0.5 * x[:, 4] + 0.4 * np.tanh(x[:, 5] * x[:, 0]) - 0.3 * x[:, 7]
               + 0.35 * rng.normal(size=n))
    y = np.where(dryness < -0.6, 0, np.where(dryness < 1.2, 1, 2)).astype(np.int32)
    return x, y


xtr, ytr = make_kiln(6000)
xva, yva = make_kiln(1500)
counts = np.bincount(ytr, minlength=3)
majority = int(np.argmax(counts))
base_acc = float(np.mean(yva == majority))
print(f"train grades {counts.tolist()}  majority-class val acc {base_acc:.3f}")
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))


class DropPath(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def __call__(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = mx.random.bernoulli(keep, (x.shape[0], 1))
        return x * mask / keep


class Block(nn.Module):
    def __init__(self, d, p_drop, p_path):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)
        self.drop = nn.Dropout(p_drop)
        self.path = DropPath(p_path)

    def __call__(self, x):
        h = self.fc2(self.drop(nn.gelu(self.fc1(self.norm(x)))))
        return x + self.path(h)


class KilnNet(nn.Module):
    def __init__(self, d=48, depth=3):
        super().__init__()
        self.inp = nn.Linear(8, d)
        self.blocks = [Block(d, 0.2, 0.1 * (i + 1)) for i in range(depth)]
        self.out = nn.Linear(d, 3)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.out(h)


SMOOTH = 0.2
EPOCHS, BATCH, PEAK_LR, WARM = 24, 128, 3e-3, 150
steps_per_epoch = xtr.shape[0] // BATCH
total = EPOCHS * steps_per_epoch
warm = optim.linear_schedule(0.0, PEAK_LR, WARM)
decay = optim.cosine_decay(PEAK_LR, total - WARM, 1e-5)
schedule = optim.join_schedules([warm, decay], [WARM])

# The smoothed target has entropy > 0, so the training loss cannot go below this.
floor = -(1 - SMOOTH + SMOOTH / 3) * math.log(1 - SMOOTH + SMOOTH / 3) \
        - 2 * (SMOOTH / 3) * math.log(SMOOTH / 3)
print(f"label smoothing {SMOOTH}: lowest reachable train loss {floor:.3f}")


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=SMOOTH, reduction="mean")


def evaluate(model):
    model.eval()
    logits = model(xva)
    acc = mx.mean(mx.argmax(logits, axis=1) == yva).item()
    hard = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    model.train()
    return acc, hard


def build():
    model = KilnNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=schedule, weight_decay=0.05)
    return model, opt


def run_epochs(model, opt, first, last):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        # first epochs and every 4th one are reported; the rest run quietly
        if ep < 3 or (ep + 1) % 4 == 0:
            acc, hard = evaluate(model)
            lr = schedule(opt.step).item()
            print(f"epoch {ep + 1:2d} lr {lr:.2e} train smoothed loss {tot / steps_per_epoch:.4f} "
                  f"| val hard CE {hard:.4f} val acc {acc:.3f} (majority {base_acc:.3f})")


t0 = time.time()
model, opt = build()
lr0 = schedule(mx.array(0)).item()
print(f"step 0 learning rate {lr0:.1e} (warmup starts at zero)")
HALF = EPOCHS // 2
run_epochs(model, opt, 0, HALF)

ckdir = tempfile.mkdtemp(prefix="hopkiln_")
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
acc_before, _ = evaluate(model)
print(f"checkpoint written after epoch {HALF} (val acc {acc_before:.3f})")

del model, opt
model, opt = build()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
acc_after, _ = evaluate(model)
print(f"resumed at optimizer step {opt.step.item()} (val acc {acc_after:.3f}, lr {schedule(opt.step).item():.2e})")
run_epochs(model, opt, HALF, EPOCHS)

acc, hard = evaluate(model)
print(f"final val acc {acc:.3f} vs majority {base_acc:.3f}; val hard CE {hard:.4f}; {time.time() - t0:.1f}s")
