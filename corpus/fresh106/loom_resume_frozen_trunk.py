"""Weaving-loom warp-tension monitoring, three phases in one script.

phase A  train a trunk + 3-way fault head on loom #1 (Adam), write weights and optimizer
         state to a temp dir halfway, then stop ("interrupted").
phase B  rebuild everything from the files phase A wrote and finish the remaining epochs
         (the loss picks up where it left off, it is already low at the first resumed step).
phase C  transfer to loom #2 (different sensor gains, 4 fault classes): the trunk is frozen
         on purpose, a fresh head is trained with a hand-written momentum SGD over
         tree_map whose learning rate warms up from exactly 0.
Reports go through the logging module.
"""
import logging
import os
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s.%(msecs)03d %(levelname)-5s [%(name)s] %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("loom")

N_SENS = 12


def loom_data(n, rng, n_classes, gain, offset):
    """Tension readings from 12 warp sensors; faults add localised patterns."""
    y = rng.integers(0, n_classes, size=n)
    base = rng.normal(size=(n, N_SENS)) * 1.0
    pos = np.arange(N_SENS)
    for c in range(1, n_classes):
        centre = (c * 5) % N_SENS
        bump = np.exp(-0.5 * ((pos - centre) / (1.0 + 0.5 * c)) ** 2) * (1.1 if c % 2 else -1.1)
        base[y == c] += bump
    x = base * gain + offset
    return x.astype(np.float32), y.astype(np.int32)


class Monitor(nn.Module):
    def __init__(self, n_classes, width=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(N_SENS, width), nn.ReLU(), nn.LayerNorm(width),
                                   nn.Linear(width, width), nn.ReLU())
        self.head = nn.Linear(width, n_classes)

    def __call__(self, x):
        return self.head(self.trunk(x))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return float((mx.argmax(model(x), axis=-1) == y).mean())


def batches(n, bs, rng):
    perm = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


def grad_audit(tag, grads):
    flat = tree_flatten(grads)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    log.getChild(tag).info("%s gradient audit: %d trainable leaves, zero-gradient leaves: %s", tag, len(flat), zero or "none")


def run_adam_epochs(model, opt, xtr, ytr, xva, yva, epochs, first_epoch, rng, tag):
    vg = nn.value_and_grad(model, xent)
    for ep in range(first_epoch, first_epoch + epochs):
        t0 = time.time()
        tot, cnt = 0.0, 0
        for k, idx in enumerate(batches(len(xtr), 64, rng)):
            loss, grads = vg(model, xtr[idx], ytr[idx])
            if ep == 0 and k == 0:
                grad_audit(tag, grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); cnt += 1
        log.getChild(tag).info("%s epoch %2d  train_ce=%.4f  valid_ce=%.4f  valid_acc=%.3f  (%.2fs)", tag, ep + 1,
                 tot / cnt, xent(model, xva, yva).item(), accuracy(model, xva, yva), time.time() - t0)


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    workdir = tempfile.mkdtemp(prefix="loom_ckpt_")
    a = log.getChild("A")

    x1, y1 = loom_data(12000, rng, 3, gain=1.0, offset=0.0)
    v1, w1 = loom_data(1500, rng, 3, gain=1.0, offset=0.0)
    x1, y1, v1, w1 = map(mx.array, (x1, y1, v1, w1))

    # ---------------- phase A: train, checkpoint, "crash" ----------------
    model = Monitor(3)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    a.info("loom #1: %d/%d readings, untrained valid_ce=%.4f (ln 3 = %.4f)", x1.shape[0], v1.shape[0],
           xent(model, v1, w1).item(), np.log(3))
    run_adam_epochs(model, opt, x1, y1, v1, w1, epochs=4, first_epoch=0, rng=rng, tag="A")
    wpath = os.path.join(workdir, "monitor.safetensors")
    opath = os.path.join(workdir, "adam_state.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    a.info("checkpoint written (%d files in %s); simulating an interrupted run", len(os.listdir(workdir)),
           os.path.basename(workdir))
    del model, opt

    # ---------------- phase B: resume from the files ----------------
    b = log.getChild("B")
    model = Monitor(3)
    model.load_weights(wpath)
    opt = optim.Adam(learning_rate=1e-3)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    b.info("resumed at optimizer step %d, valid_ce=%.4f valid_acc=%.3f", int(opt.state["step"].item()),
           xent(model, v1, w1).item(), accuracy(model, v1, w1))
    run_adam_epochs(model, opt, x1, y1, v1, w1, epochs=4, first_epoch=4, rng=rng, tag="B")

    # ---------------- phase C: new loom, frozen trunk, new head ----------------
    c = log.getChild("C")
    x2, y2 = loom_data(3000, rng, 4, gain=1.3, offset=0.2)
    v2, w2 = loom_data(1500, rng, 4, gain=1.3, offset=0.2)
    x2, y2, v2, w2 = map(mx.array, (x2, y2, v2, w2))
    target = Monitor(4)
    target.trunk.update(model.trunk.parameters())
    target.trunk.freeze()
    mx.eval(target.parameters())
    trunk_before = {k: np.array(v) for k, v in tree_flatten(target.trunk.parameters())}
    c.info("loom #2: 4 classes, trunk frozen (%d trainable leaves: %s)",
           len(tree_flatten(target.trainable_parameters())),
           [k for k, _ in tree_flatten(target.trainable_parameters())])

    vg = nn.value_and_grad(target, xent)
    velocity = tree_map(mx.zeros_like, target.trainable_parameters())
    peak, warm, mom = 0.01, 150, 0.9
    step = 0
    for ep in range(12):
        tot, cnt = 0.0, 0
        for idx in batches(x2.shape[0], 32, rng):
            lr = peak * min(1.0, step / warm)         # exactly 0 at the first update
            loss, grads = vg(target, x2[idx], y2[idx])
            if step == 0:
                grad_audit("C", grads)
            velocity = tree_map(lambda v, g: mom * v + g, velocity, grads)
            target.update(tree_map(lambda p, v: p - lr * v, target.trainable_parameters(), velocity))
            mx.eval(target.trainable_parameters(), velocity, loss)
            tot += loss.item(); cnt += 1
            step += 1
        if ep in (0, 1, 2, 5, 8, 11):
            c.info("epoch %2d  lr=%.4f  train_ce=%.4f  valid_ce=%.4f  valid_acc=%.3f", ep + 1, lr, tot / cnt,
                   xent(target, v2, w2).item(), accuracy(target, v2, w2))
    drift = max(float(np.abs(np.array(v) - trunk_before[k]).max())
                for k, v in tree_flatten(target.trunk.parameters()))
    c.info("done: frozen trunk max |change| = %.1e (expected 0)", drift)


if __name__ == "__main__":
    main()
