# Byte-level next-byte model of synthetic IBAN strings (mod-97 check digits).
# MLP over an 8-byte window plus a position embedding, AdamW, linear warmup from 0 then cosine with one warm restart,
# checkpoint at mid-run, fresh process-style reload, and resume to the end.
import math, os, random, tempfile, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(7); np.random.seed(7); mx.random.seed(7)

COUNTRIES = {  # code: (bank-code length, account length, bank codes)
    "DE": (8, 10, ["37040044", "50010517", "10020030", "76026000", "20041111", "60050101"]),
    "NL": (4, 10, ["ABNA", "INGB", "RABO", "TRIO", "SNSB", "KNAB"]),
    "BE": (3, 9, ["539", "068", "001", "363", "735", "096"]),
    "AT": (5, 11, ["19043", "20151", "32000", "12000", "60000", "14000"]),
}

def check_digits(country, bban):
    s = bban + country + "00"
    num = "".join(str(int(c, 36)) for c in s)
    return "%02d" % (98 - int(num) % 97)

def make_iban():
    c = random.choice(list(COUNTRIES))
    blen, alen, banks = COUNTRIES[c]
    bban = random.choice(banks) + "".join(random.choice("0123456789") for _ in range(alen))
    return c + check_digits(c, bban) + bban

def valid(iban):
    s = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in s)) % 97 == 1

train_txt = [make_iban() for _ in range(6000)]
val_txt = [make_iban() for _ in range(600)]
assert all(valid(x) for x in train_txt[:200])
MAXLEN = 2 + max(len(x) for x in train_txt)  # BOS + string + EOS

def encode(lines):
    X = np.zeros((len(lines), MAXLEN), dtype=np.int32)
    M = np.zeros((len(lines), MAXLEN - 1), dtype=np.float32)
    for i, s in enumerate(lines):
        b = [2] + list(s.encode("ascii")) + [10]
        X[i, :len(b)] = b
        M[i, :len(b) - 1] = 1.0
    return mx.array(X), mx.array(M)

CTX = 8
def windows(lines):
    X, P, Y = [], [], []
    for s in lines:
        b = [2] + list(s.encode("ascii")) + [10]
        for t in range(1, len(b)):
            ctx = b[max(0, t - CTX):t]
            X.append([0] * (CTX - len(ctx)) + ctx); P.append(t); Y.append(b[t])
    return mx.array(np.array(X, np.int32)), mx.array(np.array(P, np.int32)), mx.array(np.array(Y, np.int32))

Xtr, Ptr, Ytr = windows(train_txt)
Xva, Pva, Yva = windows(val_txt)

# reference: check digits treated as unpredictable (left-to-right model cannot run mod 97 ahead)
bits = []
for s in val_txt:
    blen, alen, banks = COUNTRIES[s[:2]]
    b = math.log2(4) + math.log2(97) + math.log2(len(banks)) + alen * math.log2(10)
    bits.append(b)
REF_BPB = float(sum(bits)) / sum(len(s) + 1 for s in val_txt)
counts = np.bincount(np.array(Ytr), minlength=256) + 1e-9
p = counts / counts.sum()
UNIGRAM_BPB = float(-np.log2(p[np.array(Yva)]).mean())

class ByteWindowMLP(nn.Module):
    def __init__(self, dim=16, hidden=192):
        super().__init__()
        self.emb = nn.Embedding(256, dim)
        self.pos = nn.Embedding(MAXLEN, dim)
        self.l1 = nn.Linear((CTX + 1) * dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 256)
    def __call__(self, x, pos):
        h = mx.concatenate([self.emb(x).reshape(x.shape[0], -1), self.pos(pos)], axis=-1)
        h = nn.gelu(self.l1(h))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)

def loss_fn(model, x, pos, y):
    return nn.losses.cross_entropy(model(x, pos), y, reduction="mean")

TOTAL, WARM, CYCLE, PEAK, BATCH = 850, 80, 400, 3e-3, 256
def make_sched():
    warm = optim.linear_schedule(0.0, PEAK, WARM)
    c1 = optim.cosine_decay(PEAK, CYCLE, end=1e-4)
    c2 = optim.cosine_decay(PEAK * 0.6, TOTAL - WARM - CYCLE, end=5e-5)
    return optim.join_schedules([warm, c1, c2], [WARM, WARM + CYCLE])

def build():
    model = ByteWindowMLP()
    opt = optim.AdamW(learning_rate=make_sched(), weight_decay=0.01)
    return model, opt

def evaluate(model):
    logits = model(Xva, Pva)
    nll = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
    hit = (mx.argmax(logits, axis=-1) == Yva).astype(mx.float32)
    def acc(lo, hi):
        sel = ((Pva >= lo) & (Pva <= hi)).astype(mx.float32)
        return ((hit * sel).sum() / sel.sum()).item()
    # fields by target position: country letters 1-2, check digits 3-4, bank-code start 5-7
    return nll / math.log(2), acc(1, 2), acc(3, 4), acc(5, 7)

def run(model, opt, start, stop, rng):
    step_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]
    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, pos, y):
        loss, g = step_fn(model, x, pos, y)
        g, _ = optim.clip_grad_norm(g, 1.0)
        opt.update(model, g)
        return loss
    step_fn_c = train_step
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, Xtr.shape[0], BATCH))
        loss = step_fn_c(Xtr[idx], Ptr[idx], Ytr[idx])
        mx.eval(state)
        if step % 100 == 0 or step == stop - 1:
            lr = opt.learning_rate.item()
            print(f"step {step:4d}  lr {lr:.2e}  train bits/byte {loss.item()/math.log(2):.3f}")
        if step in (WARM + CYCLE - 1, WARM + CYCLE + 60) or step == stop - 1:
            bpb, a1, a2, a3 = evaluate(model)
            print(f"  eval @ {step}: val bits/byte {bpb:.3f} (unigram {UNIGRAM_BPB:.3f}, reference {REF_BPB:.3f})"
                  f"  acc country {a1:.2f} check {a2:.2f} bank {a3:.2f}")

t0 = time.time()
print(f"{len(train_txt)} train / {len(val_txt)} val IBANs, e.g. {train_txt[0]} {train_txt[1]}")
print(f"baselines: unigram {UNIGRAM_BPB:.3f} bits/byte, reference floor ~{REF_BPB:.3f} bits/byte")
model, opt = build()
mx.eval(model.parameters())
bpb0 = evaluate(model)[0]
print(f"untrained val bits/byte {bpb0:.3f}")
rng = np.random.default_rng(0)
HALF = 450
run(model, opt, 0, HALF, rng)

ckpt = os.path.join(tempfile.mkdtemp(), "iban_ckpt")
model.save_weights(ckpt + ".safetensors")
mx.save_safetensors(ckpt + "_opt.safetensors", dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {HALF}; reloading into fresh objects")
del model, opt
model, opt = build()
model.load_weights(ckpt + ".safetensors")
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(ckpt + "_opt.safetensors").items()))
print(f"resumed: optimizer step {opt.step.item()}, next lr {make_sched()(opt.step).item():.2e}")
run(model, opt, HALF, TOTAL, rng)

bpb, a1, a2, a3 = evaluate(model)
print(f"final val bits/byte {bpb:.3f}  gap to reference {bpb - REF_BPB:+.3f}  gain over unigram {UNIGRAM_BPB - bpb:+.3f}")
print(f"check-digit accuracy {a2:.2f} (chance about 0.10), country {a1:.2f}, bank-code {a3:.2f}")
print(f"done in {time.time()-t0:.1f}s")
