"""Salt works: crystal grade of a pan harvest (fleur de sel / coarse / grey)
from 16 brine-sensor readings. Plenty of unlabeled readings, few graded pans.

Part 1 runs in a child interpreter started with subprocess: it pretrains a
denoising autoencoder on the unlabeled readings, prints nothing, and leaves the
encoder weights and a key=value log in a work directory. Part 2 (this process)
reads that log, loads the encoder and fits a grade classifier on the graded
pans: first the encoder stays frozen and only the head learns, then everything
is unfrozen at a small learning rate that warms up from 0.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def make_readings(n, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, (n, 3))                  # salinity, evaporation, silt (latent)
    grade = np.where(z[:, 2] > 0.7, 2, np.where(z[:, 0] + 0.8 * z[:, 1] > 0.3, 0, 1))
    A = np.random.default_rng(99).normal(0, 1, (3, 16))
    x = np.tanh(z @ A / 2) + 0.15 * (z @ A) ** 2 / 8 + rng.normal(0, 0.25, (n, 16))
    return x.astype(np.float32), grade.astype(np.int32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(16, 48)
        self.b = nn.Linear(48, 6)

    def __call__(self, x):
        return self.b(nn.elu(self.a(x)))


class AutoEnc(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.dec = nn.Sequential(nn.Linear(6, 48), nn.ELU(), nn.Linear(48, 16))

    def __call__(self, x):
        return self.dec(self.enc(x))


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.head = nn.Sequential(nn.Linear(6, 32), nn.ELU(), nn.Linear(32, 3))

    def __call__(self, x):
        return self.head(self.enc(x))


def part_one(workdir):
    x, _ = make_readings(20000, seed=1)
    mu, sd = x.mean(0), x.std(0)
    np.save(os.path.join(workdir, "norm.npy"), np.stack([mu, sd]))
    X = mx.array((x - mu) / sd)
    mx.random.seed(1)
    ae = AutoEnc()
    opt = optim.RMSprop(learning_rate=optim.exponential_decay(3e-3, 0.9995))

    def loss_fn(m, xb, noise):
        return nn.losses.mse_loss(m(xb + noise), xb)

    vg = nn.value_and_grad(ae, loss_fn)
    log = open(os.path.join(workdir, "pretrain.log"), "w")
    t0 = time.time()
    rng = np.random.default_rng(2)
    hold = X[:2000]
    hold_noise = 0.3 * mx.random.normal(hold.shape, key=mx.random.key(5))
    step = 0
    for epoch in range(1, 9):
        perm = rng.permutation(18000) + 2000
        tot = 0.0
        for i in range(0, 18000, 128):
            idx = mx.array(perm[i:i + 128])
            xb = X[idx]
            loss, g = vg(ae, xb, 0.3 * mx.random.normal(xb.shape))
            opt.update(ae, g)
            mx.eval(ae.parameters(), opt.state, loss)
            tot += loss.item() * xb.shape[0]
            step += 1
        held = nn.losses.mse_loss(ae(hold + hold_noise), hold).item()
        log.write(f"epoch={epoch} step={step} lr={opt.learning_rate.item():.6f} "
                  f"train_recon={tot / 18000:.5f} held_recon={held:.5f} secs={time.time() - t0:.2f}\n")
        log.flush()
    ae.enc.save_weights(os.path.join(workdir, "encoder.safetensors"))
    log.write(f"done pid={os.getpid()}\n")
    log.close()


def fit_head(model, opt, Xtr, ytr, steps, rng, report=None):
    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    out = []
    for s in range(1, steps + 1):
        idx = mx.array(rng.integers(0, Xtr.shape[0], 32))
        loss, g = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        out.append(loss.item())
        if report and s % report[0] == 0:
            report[1](s, float(np.mean(out[-report[0]:])))
    return out


def accuracy(model, X, y):
    logits = model(X)
    return (mx.mean(mx.argmax(logits, -1) == y).item(),
            nn.losses.cross_entropy(logits, y, reduction="mean").item())


def part_two(workdir):
    with open(os.path.join(workdir, "pretrain.log")) as f:
        lines = f.read().splitlines()
    print("part 1 log (child process, pretraining, read back from disk):")
    for ln in lines:
        print("   ", ln)
    mu, sd = np.load(os.path.join(workdir, "norm.npy"))
    xl, yl = make_readings(3400, seed=7)
    Xtr, ytr = mx.array((xl[:400] - mu) / sd), mx.array(yl[:400])
    Xte, yte = mx.array((xl[400:] - mu) / sd), mx.array(yl[400:])
    print(f"part 2: {Xtr.shape[0]} graded pans for training, {Xte.shape[0]} for test; "
          f"majority-grade accuracy {np.bincount(yl[400:]).max() / 3000:.3f}")

    # reference row: same head on an encoder that never saw the unlabeled readings
    mx.random.seed(21)
    ref = Grader()
    ref.enc.freeze()
    fit_head(ref, optim.Adamax(learning_rate=4e-3), Xtr, ytr, 600, np.random.default_rng(3))
    ref_acc, ref_ce = accuracy(ref, Xte, yte)

    mx.random.seed(21)
    model = Grader()
    model.enc.load_weights(os.path.join(workdir, "encoder.safetensors"))
    before = {k: np.array(v) for k, v in tree_flatten(model.enc.parameters())}
    model.enc.freeze()
    print(f"{'stage':>7} | {'step':>5} | {'lr':>8} | {'train_ce':>8} | {'test_ce':>7} | {'test_acc':>8}")

    def rep(stage, opt):
        def f(s, tr):
            acc, ce = accuracy(model, Xte, yte)
            print(f"{stage:>7} | {s:5d} | {opt.learning_rate.item():8.5f} | {tr:8.4f} | {ce:7.4f} | {acc:8.3f}")
        return f

    opt_a = optim.Adamax(learning_rate=4e-3)
    fit_head(model, opt_a, Xtr, ytr, 600, np.random.default_rng(3), (100, rep("frozen", opt_a)))
    drift = max(float(np.abs(np.array(v) - before[k]).max()) for k, v in tree_flatten(model.enc.parameters()))
    print(f"encoder max change during the frozen stage: {drift:.1e}")

    model.enc.unfreeze()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 5e-4, 100), optim.cosine_decay(5e-4, 500, 1e-5)], [100])
    opt_b = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    fit_head(model, opt_b, Xtr, ytr, 600, np.random.default_rng(4), (100, rep("all", opt_b)))
    acc, ce = accuracy(model, Xte, yte)
    print(f"test accuracy {acc:.3f} (test_ce {ce:.4f}); head on an unpretrained encoder: {ref_acc:.3f} (test_ce {ref_ce:.4f})")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--pretrain":
        part_one(sys.argv[2])
    else:
        with tempfile.TemporaryDirectory() as wd:
            t = time.time()
            print(f"starting part 1 in a child process (pretraining, silent) ...", flush=True)
            rc = subprocess.run([sys.executable, __file__, "--pretrain", wd]).returncode
            print(f"part 1 finished with status {rc} after {time.time() - t:.1f}s", flush=True)
            if rc:
                sys.exit(rc)
            part_two(wd)
