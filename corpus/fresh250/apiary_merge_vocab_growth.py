# Hive-inspection log model. Stage A trains on characters; then the vocabulary
# grows by whole-word merges (new rows for embedding and head, initialised from
# the mean of their characters), a checkpoint is written and reloaded, and
# stage B continues on the merged tokenisation. Per-token loss is not
# comparable across stages, so bits per CHARACTER is the tracked number.
import math, os, random, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(1); mx.random.seed(1); rng = np.random.default_rng(1)
WORDS = {"hive": ["1", "2", "3", "7"], "brood": ["ok", "low", "none"],
         "queen": ["seen", "missing"], "mites": ["few", "many"]}


def log_line():
    parts = [f"{k} {random.choice(v)}" for k, v in WORDS.items() if k == "hive" or random.random() < 0.8]
    return " ".join(parts) + ".\n"


text = "".join(log_line() for _ in range(3000))
chars = sorted(set(text))
MERGES = ["hive", "brood", "queen", "mites", "missing", "seen"]
CTX = 8


def encode(s, vocab, merges):
    out, i = [], 0
    while i < len(s):
        for m in merges:
            if s.startswith(m, i):
                out.append(vocab[m]); i += len(m); break
        else:
            out.append(vocab[s[i]]); i += 1
    return np.array(out, np.int32)


class WindowLM(nn.Module):
    def __init__(self, vocab, d=24, hidden=160):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.body = nn.Sequential(nn.Linear(CTX * d, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.head = nn.Linear(hidden, vocab)

    def __call__(self, x):
        return self.head(self.body(self.embed(x).reshape(x.shape[0], -1)))


def windows(ids):
    idx = np.arange(len(ids) - CTX)[:, None] + np.arange(CTX + 1)
    w = ids[idx]
    return w[:, :CTX], w[:, CTX]


def bits_per_char(model, X, Y, nchars):
    nats = nn.losses.cross_entropy(model(mx.array(X)), mx.array(Y), reduction="sum").item()
    return nats / math.log(2) / nchars


def run_stage(name, model, ids, steps, peak, val_chars):
    split = int(0.9 * len(ids))
    Xtr, Ytr = windows(ids[:split]); Xva, Yva = windows(ids[split:])
    warm = optim.linear_schedule(0.0, peak, 60)
    sched = optim.join_schedules([warm, optim.cosine_decay(peak, steps - 60, 1e-4)], [60])
    opt = optim.Adam(learning_rate=sched)
    lossg = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
    print(f"[{name}] vocab {model.head.weight.shape[0]}  tokens {len(ids)}  chars/token {len(text) / len(ids):.2f}")
    print(f"[{name}] start  val {bits_per_char(model, Xva, Yva, val_chars):.3f} bits/char")
    t0 = time.time(); run = None
    for step in range(1, steps + 1):
        b = rng.integers(0, len(Xtr), 128)
        loss, g = lossg(model, mx.array(Xtr[b]), mx.array(Ytr[b]))
        lr_used = float(sched(opt.step))
        opt.update(model, g); mx.eval(model.parameters(), opt.state, loss)
        run = loss.item() if run is None else 0.9 * run + 0.1 * loss.item()
        if step in (1, 10) or step % 100 == 0:
            print(f"[{name}] step {step:4d}  lr {lr_used:.2e}  token loss {run:.3f} nats  "
                  f"val {bits_per_char(model, Xva, Yva, val_chars):.3f} bits/char  {time.time() - t0:.1f}s")
    return bits_per_char(model, Xva, Yva, val_chars)


val_chars = len(text) - int(0.9 * len(text))
vocab_a = {c: i for i, c in enumerate(chars)}
model = WindowLM(len(vocab_a))
ids_a = encode(text, vocab_a, [])
unigram = -sum(p * math.log2(p) for p in (np.bincount(ids_a) / len(ids_a)) if p > 0)
print(f"corpus {len(text)} chars, unigram entropy {unigram:.3f} bits/char")
bpc_a = run_stage("A chars", model, ids_a, 400, 3e-3, val_chars)

vocab_b = dict(vocab_a)
for m in MERGES:
    vocab_b[m] = len(vocab_b)
old_e, old_w, old_b = model.embed.weight, model.head.weight, model.head.bias
new_e = [mx.mean(old_e[mx.array([vocab_a[c] for c in m])], axis=0) for m in MERGES]
new_w = [mx.mean(old_w[mx.array([vocab_a[c] for c in m])], axis=0) for m in MERGES]
grown = WindowLM(len(vocab_b))
grown.body.update(model.body.parameters())
grown.embed.weight = mx.concatenate([old_e, mx.stack(new_e)])
grown.head.weight = mx.concatenate([old_w, mx.stack(new_w)])
grown.head.bias = mx.concatenate([old_b, mx.full((len(MERGES),), float(old_b.mean()))])
ckpt = os.path.join(tempfile.mkdtemp(), "grown.safetensors")
grown.save_weights(ckpt)
model = WindowLM(len(vocab_b)); model.load_weights(ckpt)
same = all(mx.array_equal(a, b).item() for (_, a), (_, b) in
           zip(tree_flatten(grown.parameters()), tree_flatten(model.parameters())))
print(f"grown vocab {len(vocab_a)} -> {len(vocab_b)}, checkpoint reloaded identical: {same}")
ids_b = encode(text, vocab_b, sorted(MERGES, key=len, reverse=True))
bpc_b = run_stage("B merged", model, ids_b, 400, 2e-3, val_chars)
print(f"done: stage A {bpc_a:.3f} -> stage B {bpc_b:.3f} bits/char (unigram {unigram:.3f})")
