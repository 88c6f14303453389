"""Windmill millstone monitoring with a stochastically binarised network.

A smock mill's stone floor logs 16 readings per sack (meal temperature,
stone gap, sail rpm, feed-shoe rate, vibration bands ...). Four states:
running true / glazed stones / stones touching / feed choked.

Hidden weights are sampled +1/-1 each step with P(+1) = hard_sigmoid(w)
(BinaryConnect, stochastic variant); the real-valued w is kept in [-1, 1].
Test time uses the deterministic sign(w). The run is split in two sessions
with a checkpoint in between.
"""
import csv
import json
import shutil
import os
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

D, K = 16, 4
rng = np.random.default_rng(11)


def mill_logs(n):
    z = rng.normal(0, 1, (n, 4))
    mix = np.random.default_rng(5).normal(0, 1, (4, D)) / 2.0
    x = z @ mix + 0.6 * rng.normal(0, 1, (n, D))
    x[:, 0] += 0.8 * z[:, 0] * z[:, 1]
    logit = np.stack([1.2 * z[:, 0], 1.2 * z[:, 1] - 0.5, -z[:, 0] + z[:, 2], 0.9 * z[:, 3]], 1)
    logit = logit + rng.gumbel(size=logit.shape)
    return x.astype(np.float32), logit.argmax(1).astype(np.int32)


Xtr, ytr = mill_logs(6000)
Xva, yva = mill_logs(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
prior = np.bincount(np.array(ytr), minlength=K) / len(ytr)


class StochBinLinear(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.w = mx.random.uniform(-1.0, 1.0, (n_out, n_in))
        self.b = mx.zeros((n_out,))
        self.scale = 1.0 / np.sqrt(n_in)
        self.sampling = True

    def binarised(self):
        if self.sampling:
            p = mx.clip((self.w + 1.0) / 2.0, 0.0, 1.0)
            wb = 2.0 * mx.random.bernoulli(p).astype(self.w.dtype) - 1.0
        else:
            wb = mx.where(self.w >= 0, 1.0, -1.0)
        return self.w + mx.stop_gradient(wb - self.w)

    def __call__(self, x):
        return (x @ self.binarised().T) * self.scale + self.b


class MillNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D, 96)
        self.n0 = nn.LayerNorm(96)
        self.hid = [StochBinLinear(96, 96), StochBinLinear(96, 96)]
        self.norms = [nn.LayerNorm(96), nn.LayerNorm(96)]
        self.out = nn.Linear(96, K)

    def set_sampling(self, on):
        for layer in self.hid:
            layer.sampling = on

    def __call__(self, x):
        h = nn.relu(self.n0(self.inp(x)))
        for layer, norm in zip(self.hid, self.norms):
            h = nn.relu(norm(layer(h)))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def clip_latent(model):
    params = dict(tree_flatten(model.parameters()))
    upd = {k: mx.clip(v, -1.0, 1.0) for k, v in params.items() if k.startswith("hid.") and k.endswith(".w")}
    model.update(tree_unflatten(list(upd.items())))


def evaluate(model, samples=0):
    if samples == 0:
        model.set_sampling(False)
        logits = model(Xva)
        model.set_sampling(True)
    else:
        logits = mx.mean(mx.stack([mx.softmax(model(Xva), axis=-1) for _ in range(samples)]), axis=0)
        logits = mx.log(logits + 1e-9)
    bits = nn.losses.cross_entropy(logits, yva, reduction="mean").item() / np.log(2)
    acc = (mx.argmax(logits, 1) == yva).mean().item()
    return bits, acc


BS, EPOCHS_PER_SESSION = 50, 6
STEPS = len(ytr) // BS
sched = optim.cosine_decay(3e-3, 2 * EPOCHS_PER_SESSION * STEPS, 1e-4)
out = csv.writer(sys.stdout, lineterminator="\n")


def run_session(session, model, opt, first_epoch):
    step_fn = nn.value_and_grad(model, loss_fn)
    for epoch in range(first_epoch, first_epoch + EPOCHS_PER_SESSION):
        t0 = time.perf_counter()
        perm = mx.array(np.random.default_rng(100 + epoch).permutation(len(ytr)))
        run = 0.0
        for i in range(STEPS):
            idx = perm[i * BS:(i + 1) * BS]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            clip_latent(model)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        det_bits, det_acc = evaluate(model)
        lat = np.concatenate([np.abs(np.array(l.w)).ravel() for l in model.hid])
        out.writerow([session, epoch, int(opt.step), f"{float(opt.learning_rate):.2e}",
                      f"{run / STEPS / np.log(2):.4f}", f"{det_bits:.4f}", f"{100 * det_acc:.1f}",
                      f"{100 * (lat > 0.999).mean():.1f}", f"{time.perf_counter() - t0:.2f}"])
        sys.stdout.flush()


print(f"# smock mill stone floor: {len(ytr)} train / {len(yva)} valid sacks, {D} readings, {K} states")
print(f"# class-prior entropy {-(prior * np.log2(prior)).sum():.3f} bits; majority {100 * prior.max():.1f}%")
mx.random.seed(4)
model = MillNet()
opt = optim.Adam(learning_rate=sched)
mx.eval(model.parameters())
b0, a0 = evaluate(model)
print(f"# untrained sign-net: valid {b0:.3f} bits, {100 * a0:.1f}%")
out.writerow(["session", "epoch", "step", "lr", "train_bits_sampled", "valid_bits_sign",
              "valid_acc_pct", "latent_saturated_pct", "secs"])
run_session(1, model, opt, 1)

ckpt = tempfile.mkdtemp("", "millnet_")
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved_bits, _ = evaluate(model)
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"valid_bits": saved_bits}, f)
del model, opt
print(f"# checkpoint written to {os.path.basename(ckpt)}/ (weights, optimizer state, meta)")

model = MillNet()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = optim.Adam(learning_rate=sched)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    meta = json.load(f)
restored_bits, _ = evaluate(model)
print(f"# restored: valid {restored_bits:.4f} bits (saved {meta['valid_bits']:.4f}), step {int(opt.step)}")
run_session(2, model, opt, 1 + EPOCHS_PER_SESSION)

det_bits, det_acc = evaluate(model)
ens_bits, ens_acc = evaluate(model, samples=16)
print(f"# final sign-net: {det_bits:.3f} bits, {100 * det_acc:.1f}%; 16-sample average: {ens_bits:.3f} bits, {100 * ens_acc:.1f}%")
shutil.rmtree(ckpt)
