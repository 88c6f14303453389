"""Seed bank: pre-sowing treatment class from the words on a packet note.

Bag-of-words classifier (mean of token embeddings -> MLP -> 4 treatments).
The base model is fitted on the old curator's notes.  A second collector
writes the same cues with her own abbreviations, so the base model reads
her packets poorly.  We adapt with mlx_lm's LoRAEmbedding / LoRALinear
(base frozen), save only the adapter tensors, load them back into a
freshly wrapped model, and finally fuse the adapters into plain layers.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.tuner.lora import LoRAEmbedding, LoRALinear

VOCAB = 320
TREAT = ["sow_direct", "cold_stratify", "scarify", "smoke_water"]
CUE_OLD = {0: range(10, 22), 1: range(22, 34), 2: range(34, 46), 3: range(46, 58)}
CUE_NEW = {0: range(200, 212), 1: range(212, 224), 2: range(224, 236), 3: range(236, 248)}


def make_notes(n, rng, cues, mix_old=0.0, flip=0.06):
    y = rng.integers(0, 4, size=n)
    L = 14
    toks = rng.integers(60, 200, size=(n, L))          # species, dates, places
    for i in range(n):
        k = rng.integers(2, 5)
        pos = rng.choice(L, size=k, replace=False)
        table = CUE_OLD if rng.random() < mix_old else cues
        toks[i, pos] = rng.choice(list(table[y[i]]), size=k)
    y_obs = np.where(rng.random(n) < flip, rng.integers(0, 4, size=n), y)
    return mx.array(toks.astype(np.int32)), mx.array(y_obs.astype(np.int32))


class PacketReader(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 24)
        self.fc = nn.Linear(24, 48)
        self.out = nn.Linear(48, 4)

    def __call__(self, toks):
        h = self.embed(toks).mean(axis=1)
        return self.out(nn.silu(self.fc(h)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=0.1, reduction="mean")


def acc(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


def wrap_lora(model, r=4, scale=2.0):
    model.freeze()
    model.embed = LoRAEmbedding.from_base(model.embed, r=r, scale=scale)
    model.fc = LoRALinear.from_base(model.fc, r=r, scale=scale)
    return model


def fit(model, opt, x, y, steps, rng, log=None, every=50, xv=None, yv=None):
    lvg = nn.value_and_grad(model, loss_fn)
    hist = []
    for s in range(steps):
        j = mx.array(rng.integers(0, x.shape[0], size=64))
        lr_now = opt.learning_rate.item()
        loss, g = lvg(model, x[j], y[j])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        hist.append(loss.item())
        if log and (s % every == 0 or s == steps - 1):
            log(f"step {s:4d} lr {lr_now:.3e} loss {np.mean(hist[-every:]):.4f} "
                f"val_acc {acc(model, xv, yv):.3f}")
    return hist


def main():
    t0 = time.time()
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    log = lambda s: print(s, flush=True)

    x_old, y_old = make_notes(4000, rng, CUE_OLD)
    xv_old, yv_old = make_notes(800, rng, CUE_OLD)
    x_new, y_new = make_notes(500, rng, CUE_NEW, mix_old=0.15)
    xv_new, yv_new = make_notes(800, rng, CUE_NEW, mix_old=0.15)

    base = PacketReader()
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-3)
    fit(base, opt, x_old, y_old, 600, rng)
    log(f"base fitted on old curator's notes: val_acc {acc(base, xv_old, yv_old):.3f} "
        f"(6% labels flipped, ceiling about {1 - 0.06 * 3 / 4:.3f})")
    maj = np.bincount(np.array(yv_new), minlength=4).max() / yv_new.shape[0]
    base_new = acc(base, xv_new, yv_new)
    log(f"new collector, base only: val_acc {base_new:.3f}  (majority {maj:.3f})")
    base_flat = {k: mx.array(v) for k, v in tree_flatten(base.parameters())}

    model = wrap_lora(base)
    ntr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    ntot = sum(v.size for _, v in tree_flatten(model.parameters()))
    log(f"LoRA r=4 on embed and fc: {ntr} trainable of {ntot}")
    steps, warm = 500, 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-2, warm), optim.cosine_decay(1e-2, steps - warm, 1e-4)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    fit(model, opt, x_new, y_new, steps, rng, log=log, every=50, xv=xv_new, yv=yv_new)
    adapted = acc(model, xv_new, yv_new)
    still_old = acc(model, xv_old, yv_old)

    moved = max(mx.abs(v - base_flat[k.replace(".linear.", ".").replace(".embedding.", ".")]).max().item()
                for k, v in tree_flatten(model.parameters())
                if "lora_" not in k)
    log(f"largest change in frozen base tensors: {moved:.1e}")

    d = tempfile.mkdtemp("", "packet_")
    path = os.path.join(d, "adapters.safetensors")
    lora_only = dict(tree_flatten(model.trainable_parameters()))
    mx.save_safetensors(path, lora_only)
    log(f"saved {len(lora_only)} adapter tensors ({os.path.getsize(path)} bytes)")

    fresh = PacketReader()
    fresh.load_weights(list(base_flat.items()))
    fresh = wrap_lora(fresh)
    fresh.load_weights(path, strict=False)
    reloaded = acc(fresh, xv_new, yv_new)

    fresh.embed = fresh.embed.fuse()
    fresh.fc = fresh.fc.fuse()
    gap = mx.abs(fresh(xv_new) - model(xv_new)).max().item()
    fused = acc(fresh, xv_new, yv_new)

    log("metric                         value")
    log(f"majority class (new)           {maj:.3f}")
    log(f"base only (new)                {base_new:.3f}")
    log(f"adapted (new)                  {adapted:.3f}")
    log(f"adapter reloaded (new)         {reloaded:.3f}")
    log(f"fused (new)                    {fused:.3f}   max |logit diff| {gap:.1e}")
    log(f"adapted, old curator's notes   {still_old:.3f}")
    log(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
