# Hut-warden notices between two valley dialects (Oberthal "a" <-> Unterthal "b").
# One shared token table for both dialects, one model for both directions
# (target-dialect tag at the front of the source), embeddings tied three ways.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)

# ---- lexicon: cognates are spelled the same in both dialects ----
nouns = {"hut": "hut", "warden": "warden", "rope": "seil", "lamp": "lucht", "stove": "ofe",
         "key": "schlussl", "sled": "schlitte", "goat": "geiss", "map": "map", "bench": "bank",
         "kettle": "kessi", "door": "tur"}
verbs = {"mend": "flick", "lock": "sperr", "bring": "bring", "check": "prif", "clean": "butz",
         "open": "uftua", "carry": "trag", "mark": "zeichn"}
names = ["anni", "sepp", "vreni", "hans", "leni", "toni"]
nums = {"two": "zwoi", "three": "drei", "four": "vier", "five": "fuf"}
SPECIAL = ["<pad>", "<bos>", "<eos>", "<2a>", "<2b>", "ke", "hat", "de", "morn"]
words = set(SPECIAL) | set(names)
for d in (nouns, verbs, nums):
    words |= set(d) | set(d.values())
vocab = sorted(words, key=lambda w: (w not in SPECIAL, SPECIAL.index(w) if w in SPECIAL else 0, w))
tok = {w: i for i, w in enumerate(vocab)}
PAD, BOS, EOS, TO_A, TO_B = (tok[w] for w in SPECIAL[:5])
V = len(vocab)


def sentence_pair():
    subj = rng.choice(names)
    na, vb = rng.choice(list(nouns)), rng.choice(list(verbs))
    num = rng.choice(list(nums)) if rng.random() < 0.5 else None
    morn = rng.random() < 0.3
    # dialect a: subject object [number] verb ke [morn]   (verb-final)
    a = [subj] + ([num] if num else []) + [na, vb, "ke"] + (["morn"] if morn else [])
    # dialect b: [morn] subject hat verb de [number] object (verb-second)
    b = (["morn"] if morn else []) + [subj, "hat", verbs[vb], "de"] + ([nums[num]] if num else []) + [nouns[na]]
    return a, b


def make_set(n):
    rows = []
    for _ in range(n):
        a, b = sentence_pair()
        rows.append((["<2b>"] + a, b))  # a -> b
        rows.append((["<2a>"] + b, a))  # b -> a
    return rows


SRC_LEN, TGT_LEN = 9, 9


def encode(rows):
    src = np.full((len(rows), SRC_LEN), PAD, np.int32)
    tin = np.full((len(rows), TGT_LEN), PAD, np.int32)
    tout = np.full((len(rows), TGT_LEN), PAD, np.int32)
    for i, (s, t) in enumerate(rows):
        ids = [tok[w] for w in s]
        src[i, : len(ids)] = ids
        tt = [tok[w] for w in t]
        tin[i, : len(tt) + 1] = [BOS] + tt
        tout[i, : len(tt) + 1] = tt + [EOS]
    return src, tin, tout


train_rows, val_rows = make_set(2000), make_set(150)
Xtr, Itr, Ytr = encode(train_rows)
Xva, Iva, Yva = encode(val_rows)


class Block(nn.Module):
    def __init__(self, d, heads, cross):
        super().__init__()
        self.n1, self.att = nn.LayerNorm(d), nn.MultiHeadAttention(d, heads)
        self.cross = cross
        if cross:
            self.n2, self.xatt = nn.LayerNorm(d), nn.MultiHeadAttention(d, heads)
        self.n3 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask, mem=None, mem_mask=None):
        h = self.n1(x)
        x = x + self.att(h, h, h, mask)
        if self.cross:
            h = self.n2(x)
            x = x + self.xatt(h, mem, mem, mem_mask)
        return x + self.ff(self.n3(x))


class TiedSeq2Seq(nn.Module):
    def __init__(self, V, d=32, heads=4):
        super().__init__()
        self.d = d
        self.embed = nn.Embedding(V, d)          # encoder input, decoder input and output head
        self.pos_src = nn.Embedding(SRC_LEN, d)
        self.pos_tgt = nn.Embedding(TGT_LEN, d)
        self.enc = [Block(d, heads, False)]
        self.dec = [Block(d, heads, True)]
        self.enc_norm, self.dec_norm = nn.LayerNorm(d), nn.LayerNorm(d)

    def encode(self, src):
        key_mask = mx.where(src == PAD, -1e9, 0.0)[:, None, None, :]
        x = self.embed(src) * math.sqrt(self.d) + self.pos_src(mx.arange(src.shape[1]))
        for b in self.enc:
            x = b(x, key_mask)
        return self.enc_norm(x), key_mask

    def decode(self, tin, mem, mem_mask):
        T = tin.shape[1]
        causal = nn.MultiHeadAttention.create_additive_causal_mask(T)
        y = self.embed(tin) * math.sqrt(self.d) + self.pos_tgt(mx.arange(T))
        for b in self.dec:
            y = b(y, causal, mem, mem_mask)
        return self.embed.as_linear(self.dec_norm(y))

    def __call__(self, src, tin):
        mem, mm = self.encode(src)
        return self.decode(tin, mem, mm)


SMOOTH = 0.1


def loss_fn(model, src, tin, tout):
    logits = model(src, tin)
    mask = (tout != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tout, label_smoothing=SMOOTH, reduction="none")
    return (ce * mask).sum() / mask.sum()


def nll_and_acc(model, src, tin, tout):
    logits = model(src, tin)
    mask = (tout != PAD).astype(mx.float32)
    nll = (nn.losses.cross_entropy(logits, tout, reduction="none") * mask).sum() / mask.sum()
    acc = ((logits.argmax(-1) == tout).astype(mx.float32) * mask).sum() / mask.sum()
    return nll.item(), acc.item()


def greedy(model, src):
    mem, mm = model.encode(src)
    out = mx.full((src.shape[0], 1), BOS, mx.int32)
    for _ in range(TGT_LEN - 1):
        nxt = model.decode(out, mem, mm)[:, -1].argmax(-1)
        out = mx.concatenate([out, nxt[:, None].astype(mx.int32)], axis=1)
    return np.array(out[:, 1:])


def exact_match(pred, tout):
    hits = 0
    for p, t in zip(pred, tout):
        t = list(t[: list(t).index(EOS)])
        p = list(p)
        p = p[: p.index(EOS)] if EOS in p else p
        hits += p == t
    return hits / len(pred)


# baselines on validation targets (token level, pads ignored)
val_mask = Yva != PAD
copy_pred = np.full_like(Yva, PAD)
copy_pred[:, : SRC_LEN - 1] = Xva[:, 1:]
copy_acc = ((copy_pred == Yva) & val_mask).sum() / val_mask.sum()
counts = np.bincount(Ytr[Ytr != PAD], minlength=V)
unigram_acc = ((Yva == counts.argmax()) & val_mask).sum() / val_mask.sum()
smooth_floor = -(1 - SMOOTH + SMOOTH / V) * math.log(1 - SMOOTH + SMOOTH / V) - (V - 1) * (SMOOTH / V) * math.log(SMOOTH / V)
print(f"shared vocab {V} tokens | train pairs {len(train_rows)} | val pairs {len(val_rows)}")
print(f"baselines (val token acc): copy-source {copy_acc:.3f}  most-frequent-token {unigram_acc:.3f}")
print(f"label smoothing {SMOOTH}: best reachable smoothed train loss ~ {smooth_floor:.3f}")

model = TiedSeq2Seq(V)
mx.eval(model.parameters())
n_params = sum(v.size for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.parameters()))
print(f"params {n_params}")

D, WARM = 32, 80


def noam(step):
    step = step.astype(mx.float32)
    return 1.0 * D ** -0.5 * mx.minimum(mx.rsqrt(mx.maximum(step, 1.0)), step * WARM ** -1.5)


opt = optim.Adam(learning_rate=noam, betas=[0.9, 0.98], eps=1e-9)
step_fn = nn.value_and_grad(model, loss_fn)

BS, STEPS = 32, 700
t0 = time.time()
N = len(Xtr)
for step in range(STEPS + 1):
    idx = rng.integers(0, N, BS)
    lr_now = opt.learning_rate.item()
    loss, grads = step_fn(model, mx.array(Xtr[idx]), mx.array(Itr[idx]), mx.array(Ytr[idx]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 70 == 0:
        model.eval()
        vn, va = nll_and_acc(model, mx.array(Xva), mx.array(Iva), mx.array(Yva))
        model.train()
        print(f"step {step:5d}  lr {lr_now:.2e}  train smoothed-ce {loss.item():.4f}  val nll {vn:.4f}  val tok-acc {va:.3f}")

model.eval()
pred = greedy(model, mx.array(Xva))
to_b = Xva[:, 0] == TO_B
em_ab = exact_match(pred[to_b], Yva[to_b])
em_ba = exact_match(pred[~to_b], Yva[~to_b])
vn, va = nll_and_acc(model, mx.array(Xva), mx.array(Iva), mx.array(Yva))
print(f"final val nll {vn:.4f}  tok-acc {va:.3f} (copy baseline {copy_acc:.3f})")
print(f"greedy exact match  a->b {em_ab:.3f}   b->a {em_ba:.3f}")
for i in (0, 1):
    src = " ".join(vocab[t] for t in Xva[i] if t != PAD)
    hyp = " ".join(vocab[t] for t in pred[i] if t not in (PAD, EOS))
    print(f"  {src}  =>  {hyp}")
print(f"done in {time.time() - t0:.1f}s")
