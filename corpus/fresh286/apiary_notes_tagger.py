import time, os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

# word-level tags for hive inspection notes: O, B-/I- for COLONY, FRAME, PEST
TAGS = ["O", "B-COL", "I-COL", "B-FRM", "I-FRM", "B-PST", "I-PST"]
COL = [["queen"], ["brood"], ["capped", "brood"], ["queen", "cells"], ["drones"]]
FRM = [["frame", "3"], ["frame", "7"], ["super"], ["lower", "box"], ["top", "bar"]]
PST = [["varroa"], ["wax", "moth"], ["hive", "beetle"], ["mites"], ["chalkbrood"]]
FILL = "saw checked on near the some heavy light no today calm busy in with and".split()
vocab = {"<pad>": 0}
for w in FILL + [t for g in COL + FRM + PST for t in g]:
    vocab.setdefault(w, len(vocab))

def sentence():
    words, tags = [], []
    for _ in range(rng.integers(2, 6)):
        words.append(FILL[rng.integers(len(FILL))]); tags.append(0)
        if rng.random() < 0.55:
            k = rng.integers(3)
            ent = [COL, FRM, PST][k][rng.integers(5)]
            for j, w in enumerate(ent):
                words.append(w); tags.append(1 + 2 * k + (j > 0))
    if rng.random() < 0.1:  # occasional untagged mention: an irreducible floor
        i = rng.integers(len(tags)); tags[i] = 0
    return [vocab[w] for w in words], tags

def make(n):
    return [sentence() for _ in range(n)]

def batches(data, bs, shuffle):
    order = np.argsort([len(s[0]) for s in data], kind="stable")
    chunks = [order[i:i + bs] for i in range(0, len(order), bs)]
    if shuffle:
        rng.shuffle(chunks)
    for ch in chunks:
        L = max(len(data[i][0]) for i in ch)
        x = np.zeros((len(ch), L), np.int32); y = np.zeros((len(ch), L), np.int32)
        m = np.zeros((len(ch), L), np.float32)
        for r, i in enumerate(ch):
            w, t = data[i]; x[r, :len(w)] = w; y[r, :len(t)] = t; m[r, :len(w)] = 1
        yield mx.array(x), mx.array(y), mx.array(m)

class DilatedTagger(nn.Module):
    def __init__(self, nv, nt, d=64):
        super().__init__()
        self.emb = nn.Embedding(nv, d)
        self.convs = [nn.Conv1d(d, d, 3, padding=r, dilation=r) for r in (1, 2, 1)]
        self.norms = [nn.LayerNorm(d) for _ in range(3)]
        self.out = nn.Linear(d, nt)
    def __call__(self, x, m):
        h = self.emb(x) * m[..., None]
        for c, n in zip(self.convs, self.norms):
            h = h + nn.gelu(n(c(h))) * m[..., None]
        return self.out(h)

def loss_fn(model, x, y, m):
    ce = nn.losses.cross_entropy(model(x, m), y, reduction="none")
    return (ce * m).sum() / m.sum()

def spans(tags):
    out, cur = set(), None
    for i, t in enumerate(tags + [0]):
        if cur and not (t > 0 and t % 2 == 0 and (t - 1) // 2 == cur[0]):
            out.add((cur[0], cur[1], i)); cur = None
        if t > 0 and t % 2 == 1:
            cur = ((t - 1) // 2, i)
    return out

def evaluate(model, data):
    tp = fp = fn = 0; tok_ok = tok_n = 0; tot = 0.0; n = 0
    for x, y, m in batches(data, 128, False):
        logits = model(x, m)
        tot += loss_fn(model, x, y, m).item() * m.sum().item(); n += m.sum().item()
        p = np.array(mx.argmax(logits, -1)); yy = np.array(y); mm = np.array(m).astype(bool)
        tok_ok += (p == yy)[mm].sum(); tok_n += mm.sum()
        for r in range(p.shape[0]):
            L = int(mm[r].sum()); ps, gs = spans(list(p[r, :L])), spans(list(yy[r, :L]))
            tp += len(ps & gs); fp += len(ps - gs); fn += len(gs - ps)
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    return tot / n, tok_ok / tok_n, f1

train, valid = make(2000), make(400)
allO = np.mean([t == 0 for _, ts in valid for t in ts])
print(f"notes: train {len(train)} valid {len(valid)} vocab {len(vocab)} tags {len(TAGS)}")
print(f"baseline all-O: token acc {allO:.3f}  span F1 0.000")

WARM, TOTAL, PEAK = 60, 400, 2e-3
sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM),
                              optim.cosine_decay(PEAK, TOTAL - WARM, 1e-4)], [WARM])

def build():
    mx.random.seed(11)
    model = DilatedTagger(len(vocab), len(TAGS))
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return model, opt

model, opt = build()
mx.eval(model.parameters())
vl, ta, f1 = evaluate(model, valid)
print(f"step    0 lr 0.00e+00 | valid ce {vl:.4f} tok acc {ta:.3f} span F1 {f1:.3f}")
step_fn = nn.value_and_grad(model, loss_fn)
ckpt = os.path.join(tempfile.mkdtemp(), "tagger")
step, t0, run = 0, time.time(), []
phase = "session-1"
while step < TOTAL:
    for x, y, m in batches(train, 32, True):
        lr_now = opt.learning_rate.item()
        loss, g = step_fn(model, x, y, m)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1; run.append(loss.item())
        if step % 100 == 0:  # quiet between reports
            vl, ta, f1 = evaluate(model, valid)
            print(f"step {step:4d} lr {lr_now:.2e} | train ce {np.mean(run):.4f} | valid ce {vl:.4f} "
                  f"tok acc {ta:.3f} span F1 {f1:.3f} | {time.time()-t0:.1f}s [{phase}]")
            run = []
        if step == 200 and phase == "session-1":
            model.save_weights(ckpt + ".safetensors")
            mx.save_safetensors(ckpt + "_opt.safetensors", dict(tree_flatten(opt.state)))
            print(f"checkpoint at step {step}: valid ce {vl:.4f}; rebuilding from disk")
            model, opt = build()
            model.load_weights(ckpt + ".safetensors")
            from mlx.utils import tree_unflatten
            opt.state = tree_unflatten(list(mx.load(ckpt + "_opt.safetensors").items()))
            step_fn = nn.value_and_grad(model, loss_fn)
            vr, _, _ = evaluate(model, valid)
            print(f"resumed: optimizer step {opt.state['step'].item()} valid ce {vr:.4f}")
            phase = "session-2"
        if step >= TOTAL:
            break
vl, ta, f1 = evaluate(model, valid)
print(f"final: valid ce {vl:.4f} token acc {ta:.3f} (all-O {allO:.3f}) span F1 {f1:.3f}")
