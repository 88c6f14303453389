"""Pipe-organ voicing: predict how many cents a flue pipe speaks off its
nominal pitch from shop measurements, trained in TWO SESSIONS.

Session 1 trains a few epochs and writes a checkpoint (weights, optimizer
state, loop counters, numpy RNG state) to a scratch directory, then throws
every object away.  Session 2 rebuilds the model and optimizer from nothing,
restores the checkpoint and carries on; the learning-rate schedule continues
from the restored optimizer step, so the cosine curve is seamless.

Output: one `key=value` line per event (logfmt style).
"""

import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["log_len", "scale", "cutup", "wind_mm", "temp_c", "tin_frac", "mouth_w"]


def emit(event, **kv):
    parts = [f"event={event}"]
    for k, v in kv.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.5g}")
        else:
            parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


def make_pipes(n, rng):
    log_len = rng.uniform(np.log(0.15), np.log(4.9), n)     # speaking length, m
    scale = rng.normal(0.0, 1.0, n)                         # halftones off normal scale
    cutup = rng.uniform(0.18, 0.33, n)                      # cut-up / mouth width
    wind = rng.uniform(55, 95, n)                           # wind pressure, mm WC
    temp = rng.uniform(12, 26, n)                           # church temperature
    tin = rng.uniform(0.25, 0.75, n)                        # tin fraction of pipe metal
    mouth = rng.uniform(0.2, 0.27, n)                       # mouth width / circumference
    # made-up voicing law (cents off nominal)
    cents = (
        3.0 * (temp - 18.0)
        + 0.25 * (wind - 75.0)
        - 90.0 * (cutup - 0.25)
        + 6.0 * np.tanh(scale) * np.exp(-0.4 * log_len)
        + 40.0 * (mouth - 0.235)
        + 2.0 * np.sin(3 * tin) * (1 + 0.3 * log_len)
        + 1.5 * scale * (cutup - 0.25) * 20
    )
    cents = cents + rng.normal(0, 1.2, n)
    X = np.stack([log_len, scale, cutup, wind, temp, tin, mouth], 1).astype(np.float32)
    return X, cents.astype(np.float32)


class VoicingNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(self.norm(h)))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


class Session:
    """Everything that lives for one training session."""

    def __init__(self, cfg, total_steps):
        self.cfg = cfg
        self.model = VoicingNet(len(FEATURES), cfg["width"])
        sched = optim.cosine_decay(cfg["lr"], total_steps, end=cfg["lr"] * 0.02)
        self.opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
        self.vg = nn.value_and_grad(self.model, loss_fn)
        self.epoch = 0
        self.rng = np.random.default_rng(cfg["seed"])

    def step(self, xb, yb):
        loss, grads = self.vg(self.model, xb, yb)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss)
        return loss.item()

    def save(self, folder):
        self.model.save_weights(os.path.join(folder, "voicing.safetensors"))
        opt_flat = dict(tree_flatten(self.opt.state))
        mx.save_safetensors(os.path.join(folder, "optimizer.safetensors"), opt_flat)
        meta = {"epoch": self.epoch, "rng": self.rng.bit_generator.state}
        with open(os.path.join(folder, "meta.json"), "w") as f:
            json.dump(meta, f)

    def restore(self, folder):
        self.model.load_weights(os.path.join(folder, "voicing.safetensors"))
        flat = mx.load(os.path.join(folder, "optimizer.safetensors"))
        self.opt.state = tree_unflatten(list(flat.items()))
        with open(os.path.join(folder, "meta.json")) as f:
            meta = json.load(f)
        self.epoch = meta["epoch"]
        self.rng.bit_generator.state = meta["rng"]
        mx.eval(self.model.parameters(), self.opt.state)


def run_epochs(sess, X, y, Xv, yv_cents, mu, sd, n_epochs, batch, tag):
    n = X.shape[0]
    for _ in range(n_epochs):
        t0 = time.perf_counter()
        perm = sess.rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - batch + 1, batch):
            idx = mx.array(perm[i:i + batch])
            tot += sess.step(X[idx], y[idx])
            cnt += 1
        sess.epoch += 1
        pred = np.array(sess.model(Xv)) * sd + mu
        rmse = float(np.sqrt(np.mean((pred - yv_cents) ** 2)))
        within = float(np.mean(np.abs(pred - yv_cents) < 2.0) * 100)
        emit("epoch", session=tag, epoch=sess.epoch,
             step=int(sess.opt.state["step"].item()),
             lr_next=float(sess.opt.learning_rate.item()),
             train_huber_z=tot / cnt, valid_rmse_cents=rmse,
             within_2c_pct=within, secs=time.perf_counter() - t0)


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(5)
    Xtr, ytr = make_pipes(16000, rng)
    Xva, yva = make_pipes(1500, rng)
    xm, xs = Xtr.mean(0), Xtr.std(0)
    mu, sd = float(ytr.mean()), float(ytr.std())
    X = mx.array((Xtr - xm) / xs)
    y = mx.array((ytr - mu) / sd)
    Xv = mx.array((Xva - xm) / xs)

    cfg = {"width": 64, "lr": 3e-3, "seed": 2024, "batch": 64}
    ep1, ep2 = 5, 7
    steps_per_epoch = X.shape[0] // cfg["batch"]
    total = (ep1 + ep2) * steps_per_epoch
    base = float(np.sqrt(np.mean((yva - mu) ** 2)))
    emit("data", train=X.shape[0], valid=Xv.shape[0], predict_mean_rmse_cents=base,
         noise_floor_cents=1.2)

    ckpt_dir = tempfile.mkdtemp(prefix="voicing_ckpt_")

    # ---------------- session 1 ----------------
    s1 = Session(cfg, total)
    mx.eval(s1.model.parameters())
    _, g = s1.vg(s1.model, X[:64], y[:64])
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
    emit("grad_check", leaves=len(leaves), zero_leaves=len(zero))
    run_epochs(s1, X, y, Xv, yva, mu, sd, ep1, cfg["batch"], "1")
    s1.save(ckpt_dir)
    ref = {k: np.array(v) for k, v in tree_flatten(s1.model.parameters())}
    ref_step = int(s1.opt.state["step"].item())
    emit("checkpoint_written", dir=os.path.basename(ckpt_dir),
         files=len(os.listdir(ckpt_dir)), step=ref_step)
    del s1

    # ---------------- session 2 (fresh objects) ----------------
    s2 = Session(cfg, total)
    s2.restore(ckpt_dir)
    drift = max(float(np.abs(np.array(v) - ref[k]).max())
                for k, v in tree_flatten(s2.model.parameters()))
    emit("resumed", epoch=s2.epoch, step=int(s2.opt.state["step"].item()),
         expected_step=ref_step, max_weight_diff=drift,
         lr_next=float(s2.opt.learning_rate.item()))
    run_epochs(s2, X, y, Xv, yva, mu, sd, ep2, cfg["batch"], "2")

    for fn in os.listdir(ckpt_dir):
        os.remove(os.path.join(ckpt_dir, fn))
    os.rmdir(ckpt_dir)
    pred = np.array(s2.model(Xv)) * sd + mu
    emit("done", epochs=s2.epoch,
         final_rmse_cents=float(np.sqrt(np.mean((pred - yva) ** 2))))


if __name__ == "__main__":
    main()
