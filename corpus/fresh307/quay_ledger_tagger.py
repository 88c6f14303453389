# Harbour-master ledger tagging: each ledger line ("arr 0640 MV Stormwaker from Lerwick
# berth 7 cargo timber") is split into sub-word pieces; the tag of a word sits on its first
# piece, later pieces and padding carry -100 and are skipped by the loss.
# One-layer transformer encoder tagger with a padding attention bias, AdamW with linear warmup from 0 then cosine, checkpoint at the
# half-way point and resume into a freshly built model and optimizer.
import math
import os
import random
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

TAGS = ["O", "B-TIME", "B-VESSEL", "I-VESSEL", "B-PORT", "I-PORT", "B-BERTH", "B-CARGO", "I-CARGO"]
T2I = {t: i for i, t in enumerate(TAGS)}
IGNORE = -100

HULL_TYPE = ["MV", "SS", "FV", "MT"]
NAME_PARTS = ["Storm", "waker", "North", "ern", "Light", "Sea", "gull", "Kitti", "wake", "Arctic",
              "Tern", "Silver", "Dawn", "Star", "Grace", "Ocean", "Lerwick", "Aber", "deen", "Wick"]
PORTS = [["Lerwick"], ["Aberdeen"], ["Kirkwall"], ["Bergen"], ["Esbjerg"], ["Scrabster"],
         ["Peter", "head"], ["Great", "Yarmouth"], ["Stornoway"], ["Ullapool"], ["Wick"]]
CARGO = [["timber"], ["fish", "meal"], ["salt"], ["coal"], ["grain"], ["barrels"],
         ["pipe", "sections"], ["ballast"], ["herring"], ["stores"]]
ACTS = ["arr", "dep", "shifted"]


def pieces(word):
    # toy sub-word split: chunks of 4 characters, continuation chunks get '##'
    out = [word[:4]]
    for k in range(4, len(word), 4):
        out.append("##" + word[k:k + 4])
    return out


def make_line():
    words, tags = [], []

    def add(ws, lab):
        for j, w in enumerate(ws):
            words.append(w)
            if lab == "O":
                tags.append("O")
            else:
                tags.append(("B-" if j == 0 else "I-") + lab)

    add([random.choice(ACTS)], "O")
    add(["%02d%02d" % (random.randint(0, 23), random.choice([0, 10, 15, 20, 30, 40, 45, 50]))], "TIME")
    # vessel names are sometimes built from a port word ("Wick Star"), so context matters
    nm = [random.choice(HULL_TYPE)] + ["".join(random.sample(NAME_PARTS, 2))]
    if random.random() < 0.3:
        nm.append(random.choice(NAME_PARTS))
    add(nm, "VESSEL")
    add([random.choice(["from", "for", "ex"])], "O")
    add(random.choice(PORTS), "PORT")
    if random.random() < 0.8:
        add(["berth"], "O")
        add([str(random.randint(1, 14))], "BERTH")
    if random.random() < 0.7:
        add(["cargo"], "O")
        add(random.choice(CARGO), "CARGO")
    return words, tags


def flip_noise(tags, p=0.03):
    return [random.choice(TAGS) if random.random() < p else t for t in tags]


def build(n, noisy):
    data = []
    for _ in range(n):
        w, t = make_line()
        if noisy:
            t = flip_noise(t)
        data.append((w, t))
    return data


train = build(3000, noisy=True)
valid = build(300, noisy=False)

vocab = {"<pad>": 0, "<unk>": 1}
for w, _ in train:
    for word in w:
        for p in pieces(word):
            vocab.setdefault(p, len(vocab))


def encode(data, max_len=24):
    X = np.zeros((len(data), max_len), np.int32)
    Y = np.full((len(data), max_len), IGNORE, np.int32)
    for i, (w, t) in enumerate(data):
        pos = 0
        for word, tag in zip(w, t):
            for j, p in enumerate(pieces(word)):
                if pos >= max_len:
                    break
                X[i, pos] = vocab.get(p, 1)
                if j == 0:
                    Y[i, pos] = T2I[tag]
                pos += 1
    return mx.array(X), mx.array(Y)


Xtr, Ytr = encode(train)
Xva, Yva = encode(valid)
print(f"vocab {len(vocab)} pieces | train {Xtr.shape} valid {Xva.shape} | tags {len(TAGS)}")
print(f"labelled positions: train {int((Ytr != IGNORE).sum())}  valid {int((Yva != IGNORE).sum())}")


class LedgerTagger(nn.Module):
    def __init__(self, vocab_size, n_tags, dim=32, heads=4, layers=1, max_len=24):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.enc = nn.TransformerEncoder(layers, dim, heads, mlp_dims=64, dropout=0.1)
        self.out = nn.Linear(dim, n_tags)

    def __call__(self, x):
        L = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(L))
        pad = (x == 0)[:, None, None, :]
        bias = mx.where(pad, mx.array(-1e9, h.dtype), mx.array(0.0, h.dtype))
        return self.out(self.enc(h, bias))


def masked_ce(model, x, y):
    logits = model(x)
    keep = y != IGNORE
    safe = mx.where(keep, y, 0)
    ce = nn.losses.cross_entropy(logits, safe, reduction="none")
    keep = keep.astype(ce.dtype)
    return (ce * keep).sum() / mx.maximum(keep.sum(), 1.0)


def spans(tag_ids):
    out, cur = set(), None
    for i, t in enumerate(tag_ids):
        name = TAGS[t]
        if name.startswith("B-"):
            if cur:
                out.add(tuple(cur))
            cur = [name[2:], i, i]
        elif name.startswith("I-") and cur and cur[0] == name[2:]:
            cur[2] = i
        else:
            if cur:
                out.add(tuple(cur))
            cur = None
    if cur:
        out.add(tuple(cur))
    return out


def f1_from(pred_rows, gold_rows):
    tp = fp = fn = 0
    for p, g in zip(pred_rows, gold_rows):
        sp, sg = spans(p), spans(g)
        tp += len(sp & sg)
        fp += len(sp - sg)
        fn += len(sg - sp)
    prec = tp / max(tp + fp, 1)
    rec = tp / max(tp + fn, 1)
    return 2 * prec * rec / max(prec + rec, 1e-9)


def evaluate(model):
    model.eval()
    logits = model(Xva)
    loss = masked_ce(model, Xva, Yva).item()
    pred = np.array(mx.argmax(logits, axis=-1))
    gold = np.array(Yva)
    keep = gold != IGNORE
    acc = float((pred[keep] == gold[keep]).mean())
    pr = [pred[i][keep[i]].tolist() for i in range(len(gold))]
    gr = [gold[i][keep[i]].tolist() for i in range(len(gold))]
    model.train()
    return loss, acc, f1_from(pr, gr)


# baselines on the validation lines: all-O, and a first-piece lookup table from train
gold = np.array(Yva)
keep = gold != IGNORE
gr = [gold[i][keep[i]].tolist() for i in range(len(gold))]
all_o = [[0] * len(r) for r in gr]
counts = {}
Xn, Yn = np.array(Xtr), np.array(Ytr)
for tok, lab in zip(Xn[Yn != IGNORE].tolist(), Yn[Yn != IGNORE].tolist()):
    counts.setdefault(tok, np.zeros(len(TAGS)))[lab] += 1
Xv = np.array(Xva)
lookup = [[int(np.argmax(counts[t])) if t in counts else 0 for t in Xv[i][keep[i]].tolist()]
          for i in range(len(gold))]
acc_o = float(np.mean([a == b for r, q in zip(gr, all_o) for a, b in zip(r, q)]))
acc_l = float(np.mean([a == b for r, q in zip(gr, lookup) for a, b in zip(r, q)]))
print(f"baseline all-O      : acc {acc_o:.3f}  span-F1 {f1_from(all_o, gr):.3f}")
print(f"baseline piece-table: acc {acc_l:.3f}  span-F1 {f1_from(lookup, gr):.3f}")

TOTAL, WARM, PEAK, BATCH = 240, 40, 4e-3, 32
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 5e-5)], [WARM])


def make_run():
    model = LedgerTagger(len(vocab), len(TAGS))
    opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
    return model, opt


def train_span(model, opt, start, stop, rng):
    step_fn = nn.value_and_grad(model, masked_ce)
    n = Xtr.shape[0]
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, n, BATCH))
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        grads, _ = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == start or (step + 1) % 40 == 0:
            vl, va, vf = evaluate(model)
            lr = opt.learning_rate.item()
            print(f"step {step + 1:4d} | lr {lr:.2e} | train {loss.item():.4f} | "
                  f"valid {vl:.4f} acc {va:.3f} span-F1 {vf:.3f}")


t0 = time.time()
rng = np.random.default_rng(SEED)
model, opt = make_run()
print("stage A: steps 1..120 (lr starts at exactly 0)")
train_span(model, opt, 0, 120, rng)

ckpt = tempfile.mkdtemp()
wpath = os.path.join(ckpt, "weights.safetensors")
opath = os.path.join(ckpt, "optim.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
before = evaluate(model)
print(f"checkpoint written ({len(os.listdir(ckpt))} files), optimizer step {opt.state['step'].item()}")
del model, opt

model, opt = make_run()
model.load_weights(wpath)
opt.state = tree_unflatten(list(mx.load(opath).items()))
after = evaluate(model)
print(f"resumed: optimizer step {opt.state['step'].item()} | valid loss before {before[0]:.4f} "
      f"after {after[0]:.4f}")
print("stage B: steps 121..240")
train_span(model, opt, 120, TOTAL, rng)

vl, va, vf = evaluate(model)
print(f"final valid loss {vl:.4f} | token acc {va:.3f} | span-F1 {vf:.3f} | "
      f"{time.time() - t0:.1f}s")
