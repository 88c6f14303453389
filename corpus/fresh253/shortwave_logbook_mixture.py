# Shortwave listener logbook: a small character model trained on a mixture of
# three transcribed sources, with online reweighting of the sources against a
# count-based reference model, and a save / reload of the full training state
# half way through the run.
import json
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 /"
STOI = {c: i for i, c in enumerate(ALPHABET)}
V = len(ALPHABET)
CTX = 8

AREAS = ["VIKING", "FORTIES", "DOGGER", "FISHER", "SOLE", "LUNDY", "FASTNET", "SHANNON"]
WINDS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW", "WSW", "ENE"]
WX = ["RAIN", "SHOWERS", "FAIR", "FOG PATCHES", "DRIZZLE"]
VIS = ["GOOD", "MODERATE", "POOR", "GOOD OCCASIONALLY POOR"]


def weather_text(n_chars):
    out = []
    while sum(len(s) for s in out) < n_chars:
        a = AREAS[rng.integers(len(AREAS))]
        w = WINDS[rng.integers(len(WINDS))]
        f = int(rng.integers(3, 8))
        out.append(f"{a} {w} {f} TO {f + 1} {WX[rng.integers(len(WX))]} {VIS[rng.integers(len(VIS))]} ")
    return "".join(out)[:n_chars]


def callsign():
    pre = "".join(rng.choice(list("KWNG"), 1)) + str(int(rng.integers(0, 10)))
    return pre + "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 3))


def qso_text(n_chars):
    out = []
    while sum(len(s) for s in out) < n_chars:
        a, b = callsign(), callsign()
        rst = rng.choice(["599", "579", "559", "449"])
        out.append(f"CQ CQ DE {a} {a} K {a} DE {b} UR RST {rst} {rst} TNX QSO 73 ")
    return "".join(out)[:n_chars]


def numbers_text(n_chars):
    # five-figure groups read out by a numbers station: the digits carry no
    # structure at all, only the group spacing is predictable
    out = ["ATTENTION "]
    while sum(len(s) for s in out) < n_chars:
        out.append("".join(str(d) for d in rng.integers(0, 10, 5)) + " ")
    return "".join(out)[:n_chars]


def encode(s):
    return np.array([STOI[c] for c in s], dtype=np.int32)


SOURCES = ["weather", "qso", "numbers"]
make = {"weather": weather_text, "qso": qso_text, "numbers": numbers_text}
train_stream = {k: encode(make[k](60000)) for k in SOURCES}
probe_stream = {k: encode(make[k](6000)) for k in SOURCES}
val_stream = {k: encode(make[k](6000)) for k in SOURCES}


def windows(stream, idx):
    x = np.stack([stream[i - CTX:i] for i in idx])
    y = stream[idx]
    return x, y


def held_set(stream, n, seed):
    r = np.random.default_rng(seed)
    idx = r.integers(CTX, len(stream), n)
    x, y = windows(stream, idx)
    return mx.array(x), mx.array(y)


probe_sets = {k: held_set(probe_stream[k], 768, 11 + i) for i, k in enumerate(SOURCES)}
val_sets = {k: held_set(val_stream[k], 1024, 21 + i) for i, k in enumerate(SOURCES)}


# count-based reference: trigram with add-0.1 smoothing, fitted per source
def trigram_reference(train, val):
    counts = np.full((V, V, V), 0.1)
    np.add.at(counts, (train[:-2], train[1:-1], train[2:]), 1.0)
    logp = np.log(counts / counts.sum(2, keepdims=True))
    return float(-logp[val[:-2], val[1:-1], val[2:]].mean())


reference = {k: trigram_reference(train_stream[k], val_stream[k]) for k in SOURCES}


class CharMLP(nn.Module):
    def __init__(self, vocab, ctx, dim=16, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.l1 = nn.Linear(ctx * dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.l1(h))
        h = nn.gelu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def source_losses(model, sets):
    return {k: loss_fn(model, *sets[k]).item() for k in SOURCES}


BATCH = 128
TOTAL = 800
HALF = 400
REWEIGHT_EVERY = 40
ETA = 1.0
SMOOTH = 0.1

warm = optim.linear_schedule(0.0, 3e-3, 80)
decay = optim.cosine_decay(3e-3, TOTAL - 80, end=3e-4)
schedule = optim.join_schedules([warm, decay], [80])


def sample_batch(weights):
    src = rng.choice(len(SOURCES), size=BATCH, p=weights)
    xs, ys = [], []
    for s, name in enumerate(SOURCES):
        n = int((src == s).sum())
        if n == 0:
            continue
        idx = rng.integers(CTX, len(train_stream[name]), n)
        x, y = windows(train_stream[name], idx)
        xs.append(x)
        ys.append(y)
    return mx.array(np.concatenate(xs)), mx.array(np.concatenate(ys))


def run(model, optimizer, weights, log_alpha, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        x, y = sample_batch(weights)
        loss, grads = step_fn(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        if (step + 1) % REWEIGHT_EVERY == 0:
            probe = source_losses(model, probe_sets)
            excess = np.array([max(probe[k] - reference[k], 0.0) for k in SOURCES])
            log_alpha = log_alpha + ETA * excess
            alpha = np.exp(log_alpha - log_alpha.max())
            alpha /= alpha.sum()
            weights = (1 - SMOOTH) * alpha + SMOOTH / len(SOURCES)
        if (step + 1) % 100 == 0:
            val = source_losses(model, val_sets)
            gap = " ".join(f"{k}={val[k] - reference[k]:+.3f}" for k in SOURCES)
            w = " ".join(f"{k}={weights[i]:.2f}" for i, k in enumerate(SOURCES))
            print(f"step {step + 1:5d} lr {float(schedule(step)):.2e} batch_loss {loss.item():.4f} "
                  f"| val-minus-ref {gap} | mix {w}")
    return weights, log_alpha


print("reference trigram loss per source (nats/char): "
      + " ".join(f"{k}={v:.3f}" for k, v in reference.items()))
print(f"numbers-station floor from 5-digit groups: {5 / 6 * math.log(10):.3f} nats/char")

model = CharMLP(V, CTX)
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=schedule)
weights = np.ones(len(SOURCES)) / len(SOURCES)
log_alpha = np.zeros(len(SOURCES))

weights, log_alpha = run(model, optimizer, weights, log_alpha, 0, HALF)

ckpt = tempfile.mkdtemp(prefix="swl_")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(optimizer.state)))
with open(os.path.join(ckpt, "mix.json"), "w") as f:
    json.dump({"weights": weights.tolist(), "log_alpha": log_alpha.tolist(), "step": HALF}, f)
before = source_losses(model, val_sets)
print(f"saved state at step {HALF} to {os.path.basename(ckpt)}")

# fresh objects, as after a restart of the job
del model, optimizer
model = CharMLP(V, CTX)
model.load_weights(os.path.join(ckpt, "model.safetensors"))
optimizer = optim.Adam(learning_rate=schedule)
optimizer.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "mix.json")) as f:
    meta = json.load(f)
weights = np.array(meta["weights"])
log_alpha = np.array(meta["log_alpha"])
after = source_losses(model, val_sets)
print("reloaded: val loss per source before/after "
      + " ".join(f"{k}={before[k]:.4f}/{after[k]:.4f}" for k in SOURCES)
      + f", optimizer step {int(optimizer.state['step'].item())}")

weights, log_alpha = run(model, optimizer, weights, log_alpha, meta["step"], TOTAL)

final = source_losses(model, val_sets)
print("final val loss per source: " + " ".join(f"{k}={final[k]:.3f}" for k in SOURCES))
print("final minus reference:     " + " ".join(f"{k}={final[k] - reference[k]:+.3f}" for k in SOURCES))
print("final mixture weights:     " + " ".join(f"{k}={weights[i]:.3f}" for i, k in enumerate(SOURCES)))
