"""Variational autoencoder for 8x8 knit/purl colourwork charts (binary grids
built from a few motif families: stripes, checks, diamonds, seed stitch, cables).
KL weight beta is annealed 0 -> 1 over the first 60% of training, so the reported
ELBO-style loss (recon + beta*KL) first RISES while beta grows, then falls.
Training is done in two sessions: session 1 saves a checkpoint (weights +
optimizer state + epoch) to a temp dir, session 2 reloads it and continues.
Prints one JSON object per epoch."""
import json
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)


def chart(kind):
    i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    p = rng.integers(1, 4)
    if kind == 0:
        g = (i // p) % 2
    elif kind == 1:
        g = ((i // p) + (j // p)) % 2
    elif kind == 2:
        g = (np.abs(i - 3.5) + np.abs(j - 3.5) < 1.5 + p).astype(int)
    elif kind == 3:
        g = (i + j) % 2
    else:
        g = ((j + (i // 2)) % 4 < 2).astype(int)
    g = np.roll(g, rng.integers(0, 8), axis=1)
    flip = rng.random((8, 8)) < 0.03
    return np.where(flip, 1 - g, g).reshape(-1)


data = np.stack([chart(k) for k in rng.integers(0, 5, 4000)]).astype(np.float32)
train, val = mx.array(data[:3400]), mx.array(data[3400:])

ZD = 4


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(64, 96), nn.ReLU(), nn.Linear(96, 2 * ZD))
        self.dec = nn.Sequential(nn.Linear(ZD, 96), nn.ReLU(), nn.Linear(96, 64))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, logvar = h[:, :ZD], h[:, ZD:]
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def terms(model, x, key):
    logits, mu, logvar = model(x, key)
    rec = nn.losses.binary_cross_entropy(logits, x, with_logits=True, reduction="none").sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu ** 2 - mx.exp(logvar)).sum(1)).mean()
    return rec, kl


def loss_fn(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


EPOCHS, ANNEAL, BS = 30, 18, 100


def beta_at(ep):
    return min(1.0, ep / ANNEAL)


def run_session(model, opt, start, stop, ckdir):
    vg = nn.value_and_grad(model, lambda m, x, k, b: loss_fn(m, x, k, b))
    key = mx.random.key(1000 + start)
    for ep in range(start, stop):
        beta = beta_at(ep)
        perm = mx.array(rng.permutation(train.shape[0]))
        tot = 0.0
        nb = 0
        for b in range(0, train.shape[0], BS):
            key, sk = mx.random.split(key)
            (loss, _), g = vg(model, train[perm[b:b + BS]], sk, beta)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        rec, kl = terms(model, val, mx.random.key(5))
        print(json.dumps({"epoch": ep + 1, "beta": round(beta, 3), "train_loss": round(tot / nb, 3),
                          "val_recon_nats": round(rec.item(), 3), "val_kl_nats": round(kl.item(), 3),
                          "val_elbo_nats": round(rec.item() + kl.item(), 3)}))
    return model


ckdir = tempfile.mkdtemp(prefix="knitvae_")
mx.random.seed(0)
model = VAE()
opt = optim.Adam(learning_rate=2e-3)

# first-step gradient check (beta > 0 so the KL path is exercised too)
(_, _), g0 = nn.value_and_grad(model, loss_fn)(model, train[:BS], mx.random.key(0), 0.5)
for k, v in tree_flatten(g0):
    assert mx.abs(v).sum().item() > 0, k
print(json.dumps({"event": "grad_check", "leaves": len(tree_flatten(g0)), "all_nonzero": True}))

# session 1
run_session(model, opt, 0, 12, ckdir)
model.save_weights(os.path.join(ckdir, "vae.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"epoch": 12}, f)
print(json.dumps({"event": "checkpoint", "epoch": 12}))
del model, opt

# session 2: resume from the checkpoint written above
model = VAE()
model.load_weights(os.path.join(ckdir, "vae.safetensors"))
opt = optim.Adam(learning_rate=2e-3)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as f:
    start = json.load(f)["epoch"]
print(json.dumps({"event": "resumed", "epoch": start, "opt_step": opt.state["step"].item()}))
run_session(model, opt, start, EPOCHS, ckdir)
