"""Longarm quilting frame: stitch-tension grade from machine readings.

Grades: 0 balanced, 1 loose top, 2 tight top, 3 skipped stitches.
Nine readings per pass (thread tension, hopping-foot height, needle size,
batting loft, stitch length, frame speed, humidity, bobbin fill, thread weight).

Self-normalising MLP (SELU + LeCun-normal init) with alpha dropout.
Training is split in two sessions: the first session writes a checkpoint
(weights + optimizer state + step) and the second session rebuilds everything
from that checkpoint and carries on.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_TRAIN, N_VALID = 4800, 1200
BATCH = 96
EPOCHS_SESSION1 = 7
EPOCHS_SESSION2 = 9
WARMUP = 60
PEAK_LR = 0.05
FEATS = 9
CLASSES = 4


def make_passes(n, rng):
    x = rng.normal(size=(n, FEATS)).astype(np.float32)
    tension, foot, needle, loft, length, speed, humid, bobbin, weight = x.T
    loose = 1.4 * (-tension) + 0.6 * loft + 0.4 * humid
    tight = 1.4 * tension + 0.5 * weight - 0.3 * length
    skip = 1.2 * speed + 0.8 * foot - 0.7 * needle + 0.5 * np.abs(bobbin)
    logits = np.stack([np.zeros(n) + 0.9, loose, tight, skip], axis=1)
    logits += rng.gumbel(size=logits.shape) * 0.7
    y = logits.argmax(axis=1).astype(np.int32)
    return x, y


class AlphaDrop(nn.Module):
    """Alpha dropout that keeps SELU activations at zero mean / unit variance."""

    def __init__(self, p):
        super().__init__()
        self.p = p
        alpha, scale = 1.6732632423543772, 1.0507009873554805
        self._a_prime = -alpha * scale
        keep = 1.0 - p
        self._a = (keep * (1 + p * self._a_prime ** 2)) ** -0.5
        self._b = -self._a * self._a_prime * p

    def __call__(self, x):
        if not self.training or self.p == 0:
            return x
        keep = mx.random.bernoulli(1.0 - self.p, x.shape)
        x = mx.where(keep, x, self._a_prime)
        return self._a * x + self._b


class TensionNet(nn.Module):
    def __init__(self, width=96, depth=4, p=0.08):
        super().__init__()
        dims = [FEATS] + [width] * depth
        self.hidden = [nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:])]
        self.drops = [AlphaDrop(p) for _ in range(depth)]
        self.head = nn.Linear(width, CLASSES)

    def __call__(self, x, taps=None):
        for lin, drop in zip(self.hidden, self.drops):
            x = drop(nn.selu(lin(x)))
            if taps is not None:
                taps.append(x)
        return self.head(x)


def lecun_init(model):
    new = []
    for name, p in tree_flatten(model.parameters()):
        if name.endswith("weight"):
            fan_in = p.shape[1]
            new.append((name, mx.random.normal(p.shape) * math.sqrt(1.0 / fan_in)))
        else:
            new.append((name, mx.zeros(p.shape)))
    model.update(tree_unflatten(new))


def lr_schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    total = (EPOCHS_SESSION1 + EPOCHS_SESSION2) * (N_TRAIN // BATCH)
    decay = optim.cosine_decay(PEAK_LR, total - WARMUP, 1e-3)
    return optim.join_schedules([warm, decay], [WARMUP])


def build():
    model = TensionNet()
    lecun_init(model)
    opt = optim.SGD(learning_rate=lr_schedule(), momentum=0.9, nesterov=True)
    return model, opt


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    model.eval()
    taps = []
    logits = model(x, taps)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    last = taps[-1]
    model.train()
    return loss.item(), acc.item(), mx.mean(last).item(), mx.std(last).item()


def run_epochs(model, opt, xtr, ytr, xva, yva, first_epoch, n_epochs, rng):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first_epoch, first_epoch + n_epochs):
        t0 = time.perf_counter()
        order = rng.permutation(N_TRAIN)
        total = 0.0
        for i in range(0, N_TRAIN - BATCH + 1, BATCH):
            idx = mx.array(order[i:i + BATCH])
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            total += loss.item()
        train_loss = total / (N_TRAIN // BATCH)
        vl, va, m, s = evaluate(model, xva, yva)
        lr = opt.learning_rate.item()
        print(f"epoch {ep:2d} | train_ce(dropout on) {train_loss:.4f} | valid_ce {vl:.4f} "
              f"| valid_acc {va:.3f} | last-layer mean {m:+.3f} std {s:.3f} | lr {lr:.4f} "
              f"| {time.perf_counter() - t0:.2f}s")


def save_checkpoint(path, model, opt, epoch):
    model.save_weights(os.path.join(path, "weights.safetensors"))
    state = dict(tree_flatten(opt.state))
    state["_epoch"] = mx.array(epoch)
    mx.savez(os.path.join(path, "opt_state.npz"), **state)


def load_checkpoint(path):
    model, opt = build()
    model.load_weights(os.path.join(path, "weights.safetensors"))
    flat = dict(mx.load(os.path.join(path, "opt_state.npz")))
    epoch = int(flat.pop("_epoch").item())
    opt.state = tree_unflatten(list(flat.items()))
    return model, opt, epoch


def main():
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    xtr, ytr = make_passes(N_TRAIN, rng)
    xva, yva = make_passes(N_VALID, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

    counts = np.bincount(np.array(ytr), minlength=CLASSES)
    majority = (np.array(yva) == counts.argmax()).mean()
    print(f"class shares (train): {np.round(counts / counts.sum(), 3).tolist()}")
    print(f"baseline: always-majority valid_acc {majority:.3f}; uniform guess CE {math.log(CLASSES):.4f}")

    model, opt = build()
    vl, va, m, s = evaluate(model, xva, yva)
    print(f"init     | valid_ce {vl:.4f} | valid_acc {va:.3f} | last-layer mean {m:+.3f} std {s:.3f}")

    print("-- session 1 --")
    run_epochs(model, opt, xtr, ytr, xva, yva, 1, EPOCHS_SESSION1, rng)
    ckpt_dir = tempfile.mkdtemp(None, "quiltframe_")
    save_checkpoint(ckpt_dir, model, opt, EPOCHS_SESSION1)
    before = evaluate(model, xva, yva)
    del model, opt
    print(f"checkpoint written to {ckpt_dir} (step {EPOCHS_SESSION1 * (N_TRAIN // BATCH)})")

    print("-- session 2 (resumed) --")
    model, opt, done = load_checkpoint(ckpt_dir)
    after = evaluate(model, xva, yva)
    print(f"resumed  | valid_ce {after[0]:.4f} (was {before[0]:.4f}) | optimizer step {opt.step.item()}")
    run_epochs(model, opt, xtr, ytr, xva, yva, done + 1, EPOCHS_SESSION2, rng)

    vl, va, m, s = evaluate(model, xva, yva)
    print(f"final    | valid_ce {vl:.4f} | valid_acc {va:.3f} vs majority {majority:.3f}")


if __name__ == "__main__":
    main()
