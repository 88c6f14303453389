"""Character model of folk-tune transcriptions in ABC notation.

Synthetic session tunes (reels, jigs, hornpipes) are written out as ABC text,
padded into length buckets and modelled by a small causal dilated-convolution
network.  Held-out numbers are token-weighted over real characters only.
"""
import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

KEYS = {
    "D": "DEF^GABc^de",
    "G": "GABcdef^ga",
    "A": "AB^cde^f^ga",
    "Em": "EF^GABcdef",
    "Ador": "ABcdef^ga",
}
TYPES = {
    "reel": ("4/4", "1/8", 8),
    "jig": ("6/8", "1/8", 6),
    "hornpipe": ("4/4", "1/8", 8),
}
TITLES = ["The Kiln", "Far Meadow", "Lark on the Strand", "Miller's Gate",
          "Tarbolton Lodge", "Stony Ford", "Humours of Ballyhea", "Cooper's Yard"]


def make_tune(idx):
    kind = rng.choice(list(TYPES))
    meter, unit, per_bar = TYPES[kind]
    key = rng.choice(list(KEYS))
    scale = KEYS[key].replace("^", "")
    lines = [f"X:{idx}", f"T:{rng.choice(TITLES)}", f"R:{kind}",
             f"M:{meter}", f"L:{unit}", f"K:{key}"]
    pos = int(rng.integers(0, len(scale)))
    bars = []
    n_bars = int(rng.choice([4, 8]))
    for b in range(n_bars):
        notes = []
        left = per_bar
        while left > 0:
            step = int(rng.choice([-2, -1, -1, 1, 1, 2, 0]))
            pos = int(np.clip(pos + step, 0, len(scale) - 1))
            dur = 2 if (left >= 2 and rng.random() < 0.2) else 1
            notes.append(scale[pos] + ("2" if dur == 2 else ""))
            left -= dur
        group = 3 if per_bar == 6 else 4
        text, count = "", 0
        for n in notes:
            text += n
            count += 2 if n.endswith("2") else 1
            if count % group == 0 and count < per_bar:
                text += " "
        bars.append(text)
    body = "|" + "|".join(bars[:4]) + "|"
    if n_bars == 8:
        body += "\n|" + "|".join(bars[4:]) + "|]"
    else:
        body += "]"
    return "\n".join(lines) + "\n" + body + "\n"


tunes = [make_tune(i + 1) for i in range(720)]
chars = sorted(set("".join(tunes)))
PAD = 0
stoi = {c: i + 1 for i, c in enumerate(chars)}
V = len(chars) + 1
encoded = [np.array([stoi[c] for c in t], dtype=np.int32) for t in tunes]
train_seqs, val_seqs = encoded[:600], encoded[600:]

counts = np.bincount(np.concatenate(train_seqs), minlength=V)[1:].astype(np.float64)
p = counts / counts.sum()
unigram_bits = float(-(p * np.log2(p)).sum())


def buckets(seqs, batch, shuffle):
    order = np.argsort([len(s) for s in seqs], kind="stable")
    groups = [order[i:i + batch] for i in range(0, len(order), batch)]
    if shuffle:
        rng.shuffle(groups)
    for g in groups:
        L = max(len(seqs[i]) for i in g)
        x = np.full((len(g), L), PAD, dtype=np.int32)
        for r, i in enumerate(g):
            x[r, :len(seqs[i])] = seqs[i]
        yield mx.array(x)


class CausalConvLM(nn.Module):
    def __init__(self, vocab, dim=40, width=3, dilations=(1, 2, 4, 8)):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.width = width
        self.dilations = list(dilations)
        # a width-3 dilated causal convolution written as shifted copies + one Linear
        self.convs = [nn.Linear(width * dim, 2 * dim) for _ in dilations]
        self.norms = [nn.LayerNorm(dim) for _ in dilations]
        self.out = nn.Linear(dim, vocab)

    def __call__(self, x):
        h = self.embed(x)
        for conv, norm, d in zip(self.convs, self.norms, self.dilations):
            L = h.shape[1]
            z = mx.pad(norm(h), [(0, 0), ((self.width - 1) * d, 0), (0, 0)])
            taps = [z[:, k * d:k * d + L] for k in range(self.width)]
            a, g = mx.split(conv(mx.concatenate(taps, axis=-1)), 2, axis=-1)
            h = h + a * mx.sigmoid(g)
        return self.out(h)


def summed_nll(model, batch):
    inp, tgt = batch[:, :-1], batch[:, 1:]
    logits = model(inp)
    mask = (tgt != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * mask).sum(), mask.sum()


def evaluate(model):
    tot, ntok = 0.0, 0.0
    for b in buckets(val_seqs, 64, shuffle=False):
        s, n = summed_nll(model, b)
        mx.eval(s, n)
        tot += s.item()
        ntok += n.item()
    nats = tot / ntok
    return nats, nats / np.log(2), float(np.exp(nats))


EPOCHS_A, EPOCHS_B, MICRO, ACCUM = 2, 3, 25, 2
steps_per_epoch = sum(1 for _ in buckets(train_seqs, MICRO, False)) // ACCUM
total_steps = (EPOCHS_A + EPOCHS_B) * steps_per_epoch
warm = steps_per_epoch


def build():
    model = CausalConvLM(V)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, total_steps - warm, 2e-4)], [warm])
    opt = optim.Adafactor(learning_rate=sched, relative_step=False,
                          scale_parameter=False)
    return model, opt


def run_epochs(model, opt, first_epoch, n_epochs, t0):
    loss_and_grad = nn.value_and_grad(model, lambda b: summed_nll(model, b)[0])
    for ep in range(first_epoch, first_epoch + n_epochs):
        acc, acc_tok, seen_nats, seen_tok, nb = None, 0.0, 0.0, 0.0, 0
        for b in buckets(train_seqs, MICRO, shuffle=True):
            s, g = loss_and_grad(b)
            ntok = (b[:, 1:] != PAD).sum()
            acc = g if acc is None else tree_map2(acc, g)
            acc_tok = acc_tok + ntok
            seen_nats += s.item()
            nb += 1
            if nb % ACCUM == 0:
                scaled = tree_scale(acc, 1.0 / acc_tok)
                opt.update(model, scaled)
                lr_used = opt.learning_rate.item()
                mx.eval(model.parameters(), opt.state)
                seen_tok += acc_tok.item()
                acc, acc_tok = None, 0.0
        val_nats, val_bpc, val_ppl = evaluate(model)
        train_bpc = seen_nats / seen_tok / np.log(2)
        print(f"{ep}\t{int(opt.step.item())}\t{lr_used:.2e}\t{train_bpc:.3f}\t"
              f"{val_bpc:.3f}\t{val_ppl:.2f}\t{unigram_bits:.3f}\t{time.time() - t0:.1f}",
              flush=True)


def tree_map2(a, b):
    from mlx.utils import tree_map
    return tree_map(lambda x, y: x + y, a, b)


def tree_scale(a, k):
    from mlx.utils import tree_map
    return tree_map(lambda x: x * k, a)


t0 = time.time()
model, opt = build()
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"# abc tunes: {len(train_seqs)} train / {len(val_seqs)} held-out, vocab {V - 1} chars + pad, "
      f"{sum(len(s) for s in val_seqs)} held-out chars")
print(f"# model: dilated causal conv, {n_params} params; Adafactor, warm-up from 0 over {warm} "
      f"updates, {ACCUM} micro-batches of {MICRO} per update")
v0 = evaluate(model)
print(f"# untrained held-out: {v0[1]:.3f} bits/char, perplexity {v0[2]:.1f} (uniform {np.log2(V - 1):.3f})")
print("epoch\tupdates\tlr\ttrain_bpc\tval_bpc\tval_ppl\tunigram_bpc\tsecs")
run_epochs(model, opt, 1, EPOCHS_A, t0)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as fh:
    json.dump({"epoch": EPOCHS_A}, fh)
before = evaluate(model)[0]
del model, opt
print(f"# session saved to {os.path.basename(ckpt)}; new session resumes")

model, opt = build()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as fh:
    start = json.load(fh)["epoch"] + 1
after = evaluate(model)[0]
print(f"# reloaded held-out nats/char {after:.5f} (before save {before:.5f}); "
      f"update counter {int(opt.step.item())}")
run_epochs(model, opt, start, EPOCHS_B, t0)

final = evaluate(model)
print(f"# done: held-out {final[1]:.3f} bits/char, perplexity {final[2]:.2f}, "
      f"unigram {unigram_bits:.3f} bits/char, {time.time() - t0:.1f}s")
shutil.rmtree(ckpt, ignore_errors=True)
