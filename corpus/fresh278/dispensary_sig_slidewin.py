"""Character language model over pharmacy label text ("sig" lines).

Synthetic prescription labels such as
  "Amoxicillin 500 mg cap. Sig: 1 cap PO TID x 7 days. Disp: 21. RF: 0."
A one-layer causal transformer is trained in two sessions: session 1 runs
the first half, writes weights, optimizer state and the step counter to a
temporary folder and is discarded; session 2 rebuilds everything, reloads
and continues.  Held-out perplexity is scored two ways: non-overlapping
48-character chunks (the first characters of each chunk have no context)
and a sliding window (stride 12, only the last 12 positions of each window
are scored, each with at least 36 characters of context).
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

CTX = 48
STRIDE = 12
BATCH = 16
TOTAL = 300
HALF = 150
WARM = 30
REPORT = 50

rng = np.random.default_rng(3)

DRUGS = [("Amoxicillin", [250, 500], "cap"), ("Lisinopril", [5, 10, 20], "tab"),
         ("Metformin", [500, 850, 1000], "tab"), ("Ibuprofen", [200, 400, 600], "tab"),
         ("Omeprazole", [20, 40], "cap"), ("Sertraline", [25, 50, 100], "tab"),
         ("Prednisone", [5, 10, 20], "tab"), ("Cetirizine", [5, 10], "tab")]
FREQ = {"QD": 1, "BID": 2, "TID": 3, "QID": 4}
ROUTES = ["PO", "PO", "PO", "SL"]


def label():
    name, strengths, form = DRUGS[rng.integers(len(DRUGS))]
    mg = strengths[rng.integers(len(strengths))]
    qty = int(rng.choice([1, 1, 1, 2]))
    freq = list(FREQ)[rng.integers(4)]
    days = int(rng.choice([5, 7, 10, 14, 30]))
    disp = qty * FREQ[freq] * days
    rf = int(rng.choice([0, 0, 1, 2, 3]))
    extra = rng.choice(["", "", " with food", " at bedtime"])
    return (f"{name} {mg} mg {form}. Sig: {qty} {form} {ROUTES[rng.integers(4)]} {freq}"
            f"{extra} x {days} days. Disp: {disp}. RF: {rf}.\n")


train_text = "".join(label() for _ in range(1500))
val_text = "".join(label() for _ in range(60))
chars = sorted(set(train_text + val_text))
stoi = {c: i for i, c in enumerate(chars)}
V = len(chars)
train_ids = np.array([stoi[c] for c in train_text], dtype=np.int32)
val_ids = np.array([stoi[c] for c in val_text], dtype=np.int32)
uni = np.bincount(train_ids, minlength=V) + 1.0
uni /= uni.sum()
uni_ppl = math.exp(-np.mean(np.log(uni[val_ids])))


class SigLM(nn.Module):
    def __init__(self, vocab, dims=48, layers=1):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(CTX, dims)
        self.enc = nn.TransformerEncoder(layers, dims, 4, mlp_dims=4 * dims, norm_first=True)
        self.out = nn.Linear(dims, vocab)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        return self.out(self.enc(h, mask))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)],
        [WARM])


def batch():
    starts = rng.integers(0, len(train_ids) - CTX - 1, size=BATCH)
    x = np.stack([train_ids[s:s + CTX] for s in starts])
    y = np.stack([train_ids[s + 1:s + CTX + 1] for s in starts])
    return mx.array(x), mx.array(y)


def chunked_ppl(model):
    n = (len(val_ids) - 1) // CTX
    x = val_ids[:n * CTX].reshape(n, CTX)
    y = val_ids[1:n * CTX + 1].reshape(n, CTX)
    ce = nn.losses.cross_entropy(model(mx.array(x)), mx.array(y), reduction="mean")
    return math.exp(ce.item())


def sliding_ppl(model):
    starts = np.arange(0, len(val_ids) - CTX - 1, STRIDE)
    x = np.stack([val_ids[s:s + CTX] for s in starts])
    y = np.stack([val_ids[s + 1:s + CTX + 1] for s in starts])
    logits = model(mx.array(x))[:, CTX - STRIDE:, :]
    ce = nn.losses.cross_entropy(logits, mx.array(y[:, CTX - STRIDE:]), reduction="mean")
    return math.exp(ce.item())


def run_session(first, last, ckpt_dir=None):
    mx.random.seed(100 + first)
    model = SigLM(V)
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=0.01)
    if ckpt_dir is not None:
        model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        flat = mx.load(os.path.join(ckpt_dir, "opt.safetensors"))
        opt.state = tree_unflatten(list(flat.items()))
        with open(os.path.join(ckpt_dir, "meta.json")) as f:
            meta = json.load(f)
        print(f"session 2 | reloaded at step {meta['step']} | opt.step {opt.step.item()} "
              f"| chunked ppl after reload {chunked_ppl(model):.3f}")
    mx.eval(model.parameters())
    step_fn = nn.value_and_grad(model, loss_fn)
    win = []
    t0 = time.perf_counter()
    for step in range(first, last + 1):
        lr = float(opt.learning_rate) if step > 1 else 0.0
        x, y = batch()
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        win.append(loss)
        if step == 1:
            print(f"step 1 | lr applied {float(schedule()(0)):.1f} | loss {loss.item():.3f} "
                  f"(log V = {math.log(V):.3f}) | leaves with gradient "
                  f"{sum(1 for _, g in tree_flatten(grads) if mx.any(g != 0).item())}"
                  f"/{len(tree_flatten(grads))}")
        if step % REPORT == 0:
            tr = mx.mean(mx.stack(win)).item()
            win = []
            print(f"step {step:4d} | lr {float(opt.learning_rate):.2e} | train ppl {math.exp(tr):6.3f} "
                  f"| val ppl chunked {chunked_ppl(model):6.3f} | val ppl sliding {sliding_ppl(model):6.3f} "
                  f"| unigram {uni_ppl:.2f} | {time.perf_counter() - t0:4.1f}s")
    return model, opt


print(f"vocab {V} | train chars {len(train_ids)} | val chars {len(val_ids)} | "
      f"ctx {CTX} stride {STRIDE} | unigram val ppl {uni_ppl:.2f}")
with tempfile.TemporaryDirectory() as d:
    model, opt = run_session(1, HALF)
    model.save_weights(os.path.join(d, "weights.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"step": HALF}, f)
    print(f"session 1 | wrote checkpoint at step {HALF} | chunked ppl {chunked_ppl(model):.3f}")
    del model, opt
    model, opt = run_session(HALF + 1, TOTAL, ckpt_dir=d)

prompt = "Metformin 500 mg tab. Sig: "
ids = [stoi[c] for c in prompt]
for _ in range(48):
    logits = model(mx.array([ids[-CTX:]]))[0, -1]
    ids.append(int(mx.argmax(logits).item()))
print("greedy:", repr("".join(chars[i] for i in ids)))
print(f"final | val ppl chunked {chunked_ppl(model):.3f} | sliding {sliding_ppl(model):.3f} "
      f"| bits/char sliding {math.log2(sliding_ppl(model)):.3f}")
