"""Self-supervised pre-training of a vibration-sensor encoder with InfoNCE (NT-Xent).

Readings come from 8 unlabelled machine states seen through a fixed nonlinear
sensor mixing.  Two random augmentations of each reading form a positive pair,
every other view in the batch is a negative.  Labels are only used by the
k-nearest-neighbour probe that is run (silently, it takes a while) every few
epochs.  The learning rate warms up linearly from 0.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("infonce")

rng = np.random.default_rng(11)
N_STATES, LATENT, OBS = 8, 6, 24
centers = rng.normal(scale=1.0, size=(N_STATES, LATENT))
mix1 = rng.normal(size=(LATENT, 32)) / np.sqrt(LATENT)
mix2 = rng.normal(size=(32, OBS)) / np.sqrt(32)


def readings(n):
    lab = rng.integers(0, N_STATES, n)
    z = centers[lab] + rng.normal(scale=0.55, size=(n, LATENT))
    x = np.tanh(z @ mix1) @ mix2 + rng.normal(scale=0.6, size=(n, OBS))
    # a few channels carry a large nuisance offset that varies per reading
    x[:, :6] += rng.normal(scale=4.0, size=(n, 1))
    return x.astype(np.float32), lab


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(OBS, 128), nn.ReLU(), nn.Linear(128, 64))
        self.projector = nn.Sequential(nn.ReLU(), nn.Linear(64, 32))

    def features(self, x):
        return self.backbone(x)

    def __call__(self, x):
        return self.projector(self.backbone(x))


def augment(x):
    """Random gain, channel dropout and additive noise (numpy, per view)."""
    gain = rng.uniform(0.8, 1.2, size=(x.shape[0], 1)).astype(np.float32)
    keep = (rng.random(x.shape) > 0.2).astype(np.float32)
    noise = rng.normal(scale=0.3, size=x.shape).astype(np.float32)
    offset = rng.normal(scale=4.0, size=(x.shape[0], 1)).astype(np.float32)
    y = x * gain * keep + noise
    y[:, :6] += offset
    return y


def nt_xent(model, a, b, tau=0.2):
    za = model(a)
    zb = model(b)
    z = mx.concatenate([za, zb], axis=0)
    z = z / mx.linalg.norm(z, axis=1, keepdims=True)
    sim = (z @ z.T) / tau
    n = a.shape[0]
    sim = mx.where(mx.eye(2 * n, dtype=mx.bool_), -1e9, sim)     # drop self-pairs
    pos = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    return mx.mean(nn.losses.cross_entropy(sim, pos))


def knn_accuracy(model, bank_x, bank_y, q_x, q_y, k=15):
    fb = np.array(model.features(mx.array(bank_x)))
    fq = np.array(model.features(mx.array(q_x)))
    fb /= np.linalg.norm(fb, axis=1, keepdims=True)
    fq /= np.linalg.norm(fq, axis=1, keepdims=True)
    correct = 0
    for s in range(0, len(fq), 250):
        sims = fq[s:s + 250] @ fb.T
        nn_idx = np.argpartition(-sims, k, axis=1)[:, :k]
        votes = bank_y[nn_idx]
        pred = np.array([np.bincount(v, minlength=N_STATES).argmax() for v in votes])
        correct += int((pred == q_y[s:s + 250]).sum())
    return 100.0 * correct / len(q_y)


def main():
    t0 = time.time()
    train_x, train_y = readings(6000)
    probe_x, probe_y = readings(1500)
    log.info("data: %d unlabelled readings, %d probe readings, %d states",
             len(train_x), len(probe_x), N_STATES)

    mx.random.seed(3)
    model = Encoder()
    mx.eval(model.parameters())

    batch, epochs = 256, 10
    steps_per_epoch = len(train_x) // batch
    total = steps_per_epoch * epochs
    warm = 60
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-4)],
        [warm])
    opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, nt_xent)

    a0 = mx.array(augment(train_x[:batch]))
    b0 = mx.array(augment(train_x[:batch]))
    l0, g0 = loss_and_grad(model, a0, b0)
    flat = tree_flatten(g0)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    log.info("first-step grads: %d leaves, zero-gradient leaves: %s; loss %.4f (chance level ln(%d)=%.4f)",
             len(flat), zero or "none", l0.item(), 2 * batch - 1, np.log(2 * batch - 1))

    acc0 = knn_accuracy(model, train_x[:3000], train_y[:3000], probe_x, probe_y)
    log.info("epoch 0 (random encoder): kNN-15 probe accuracy %.1f%%", acc0)

    step = 0
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(len(train_x))
        running = []
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            xb = train_x[idx]
            a, b = mx.array(augment(xb)), mx.array(augment(xb))
            loss, grads = loss_and_grad(model, a, b)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            running.append(loss.item())
            step += 1
        lr_now = float(schedule(mx.array(step)))
        msg = "epoch %2d step %4d lr %.2e  nt_xent %.4f (lower is better)" % (
            epoch, step, lr_now, float(np.mean(running)))
        if epoch % 3 == 0 or epoch == epochs:
            acc = knn_accuracy(model, train_x[:3000], train_y[:3000], probe_x, probe_y)
            msg += "  kNN-15 probe acc %.1f%%%%" % acc
        log.info(msg + "  (%.1fs)", time.time() - t0)

    log.info("finished: %d steps in %.1fs", step, time.time() - t0)


if __name__ == "__main__":
    main()
