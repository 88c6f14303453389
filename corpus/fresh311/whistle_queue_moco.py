"""Sheepdog-trial whistle recordings: self-supervised pretraining of a contour
encoder (momentum key encoder + FIFO queue of negatives), then a linear probe
on a small labelled set. Pretraining is split in two sessions with a resume
from disk in between."""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

T = 32
COMMANDS = ["walk_up", "come_bye", "away", "stand", "lie_down", "thatll_do"]
rng = np.random.default_rng(7)


def whistle(cmd, n):
    """pitch (semitones) + loudness contours, 2 x T, per-handler transpose and tempo."""
    t = np.linspace(0, 1, T)[None, :]
    shift = rng.normal(0, 2.0, (n, 1))
    tempo = rng.uniform(0.8, 1.25, (n, 1))
    tt = np.clip(t * tempo, 0, 1)
    shapes = [
        lambda x: 4 * x,
        lambda x: 3 * np.sin(2 * np.pi * x),
        lambda x: -3 * np.sin(2 * np.pi * x),
        lambda x: 2 * np.sign(np.sin(3 * np.pi * x)),
        lambda x: -4 * x + 2 * (x > 0.6),
        lambda x: 3 * np.cos(4 * np.pi * x),
    ]
    pitch = shapes[cmd](tt) + shift
    loud = np.exp(-((tt - 0.5) ** 2) / 0.08) * rng.uniform(0.6, 1.4, (n, 1))
    x = np.stack([pitch, loud], 1) + rng.normal(0, 0.25, (n, 2, T))
    return x.astype(np.float32)


def make_set(per_cmd):
    xs, ys = [], []
    for c in range(len(COMMANDS)):
        xs.append(whistle(c, per_cmd))
        ys.append(np.full(per_cmd, c))
    return np.concatenate(xs), np.concatenate(ys)


def augment(x):
    n = x.shape[0]
    x = x.copy()
    x[:, 0] += rng.normal(0, 1.5, (n, 1))
    x[:, 1] *= rng.uniform(0.7, 1.3, (n, 1))
    roll = rng.integers(-2, 3)
    x = np.roll(x, roll, axis=2)
    keep = rng.random((n, 1, T)) > 0.1
    return (x * keep + rng.normal(0, 0.15, x.shape)).astype(np.float32)


class Encoder(nn.Module):
    def __init__(self, d=48, out=32):
        super().__init__()
        self.conv1 = nn.Conv1d(2, 24, 5, padding=2)
        self.conv2 = nn.Conv1d(24, d, 5, padding=2)
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, out))

    def features(self, x):  # x: (B, 2, T) -> NLC
        h = nn.relu(self.conv1(x.transpose(0, 2, 1)))
        h = nn.relu(self.conv2(h))
        return h.mean(axis=1)

    def __call__(self, x):
        z = self.head(self.features(x))
        return z / mx.linalg.norm(z, axis=-1, keepdims=True)


def save_state(path, q_enc, k_enc, opt, queue, ptr, step):
    flat = {}
    flat.update({"q." + k: v for k, v in tree_flatten(q_enc.parameters())})
    flat.update({"k." + k: v for k, v in tree_flatten(k_enc.parameters())})
    flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
    flat["queue"] = queue
    flat["meta"] = mx.array([ptr, step])
    mx.savez(path, **flat)


def load_state(path, q_enc, k_enc, opt):
    flat = dict(mx.load(path))
    q_enc.update(tree_unflatten([(k[2:], v) for k, v in flat.items() if k.startswith("q.")]))
    k_enc.update(tree_unflatten([(k[2:], v) for k, v in flat.items() if k.startswith("k.")]))
    opt.state = tree_unflatten([(k[4:], v) for k, v in flat.items() if k.startswith("opt.")])
    ptr, step = [int(v) for v in flat["meta"].tolist()]
    return flat["queue"], ptr, step


def pretrain(x_unl, ckpt, start_fresh, stop_step, total_steps, K=512, tau=0.1, m=0.99, bs=64):
    q_enc, k_enc = Encoder(), Encoder()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, total_steps - 60, 1e-4)], [60]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    if start_fresh:
        mx.random.seed(3)
        q_enc = Encoder()
        k_enc.update(tree_map(lambda v: v, q_enc.parameters()))
        opt.init(q_enc.trainable_parameters())
        queue = mx.random.normal((K, 32))
        queue = queue / mx.linalg.norm(queue, axis=-1, keepdims=True)
        ptr, step = 0, 0
    else:
        opt.init(q_enc.trainable_parameters())
        queue, ptr, step = load_state(ckpt, q_enc, k_enc, opt)
        print(f"resumed from {os.path.basename(ckpt)} at step {step} (queue ptr {ptr}, lr now {opt.learning_rate.item():.2e})")

    def loss_fn(model, xq, k, queue):
        q = model(xq)
        pos = (q * k).sum(-1, keepdims=True)
        neg = q @ queue.T
        logits = mx.concatenate([pos, neg], axis=1) / tau
        return nn.losses.cross_entropy(logits, mx.zeros(q.shape[0], dtype=mx.int32), reduction="mean")

    vg = nn.value_and_grad(q_enc, loss_fn)
    t0 = time.time()
    while step < stop_step:
        idx = rng.choice(len(x_unl), bs, replace=False)
        xa, xb = mx.array(augment(x_unl[idx])), mx.array(augment(x_unl[idx]))
        k = mx.stop_gradient(k_enc(xb))
        loss, grads = vg(q_enc, xa, k, queue)
        opt.update(q_enc, grads)
        k_enc.update(tree_map(lambda a, b: m * a + (1 - m) * b, k_enc.parameters(), q_enc.parameters()))
        queue[ptr:ptr + bs] = k
        ptr = (ptr + bs) % K
        step += 1
        mx.eval(q_enc.parameters(), k_enc.parameters(), opt.state, queue, loss)
        if step % 40 == 0 or step == 1:
            print(f"pretrain step {step:4d} | lr {opt.learning_rate.item():.2e} | infoNCE {loss.item():.3f} "
                  f"(chance {np.log(K + 1):.3f}, same-command floor {np.log(K / len(COMMANDS) + 1):.3f}) | {time.time() - t0:.1f}s")
    save_state(ckpt, q_enc, k_enc, opt, queue, ptr, step)
    return q_enc


def linear_probe(enc, x_tr, y_tr, x_te, y_te, label):
    f_tr = mx.stop_gradient(enc.features(mx.array(x_tr)))
    f_te = mx.stop_gradient(enc.features(mx.array(x_te)))
    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-5
    f_tr, f_te = (f_tr - mu) / sd, (f_te - mu) / sd
    probe = nn.Linear(f_tr.shape[1], len(COMMANDS))
    opt = optim.Adam(learning_rate=1e-2)
    vg = nn.value_and_grad(probe, lambda p, f, y: nn.losses.cross_entropy(p(f), y, reduction="mean"))
    ytr = mx.array(y_tr)
    for _ in range(200):
        loss, g = vg(probe, f_tr, ytr)
        opt.update(probe, g)
        mx.eval(probe.parameters(), opt.state)
    acc = (mx.argmax(probe(f_te), axis=1) == mx.array(y_te)).mean().item()
    print(f"probe [{label}] train CE {loss.item():.3f} | test acc {acc:.3f}")
    return acc


def main():
    x_unl, _ = make_set(400)             # unlabelled trial recordings
    x_tr, y_tr = make_set(5)             # 30 labelled whistles
    x_te, y_te = make_set(100)
    ckpt = os.path.join(tempfile.mkdtemp(), "moco_state.npz")
    total = 240
    print(f"session 1: {len(x_unl)} unlabelled whistles, queue 512, warmup 60 steps from lr 0")
    pretrain(x_unl, ckpt, True, 120, total)
    print("session 2")
    enc = pretrain(x_unl, ckpt, False, total, total)
    majority = np.bincount(y_te).max() / len(y_te)
    print(f"majority-class baseline acc {majority:.3f}")
    mx.random.seed(11)
    linear_probe(Encoder(), x_tr, y_tr, x_te, y_te, "random encoder")
    linear_probe(enc, x_tr, y_tr, x_te, y_te, "pretrained encoder")


if __name__ == "__main__":
    main()
