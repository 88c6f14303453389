# Ferry-office notices, Oberthal dialect "a" -> Unterthal dialect "b", with only a few
# hand-translated pairs plus a pile of untranslated "b" notices used through back-translation.
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


def make_pairs(n):
    return [sentence_pair() for _ in range(n)]


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



pairs = make_pairs(120)
mono_b = [sentence_pair()[1] for _ in range(1500)]      # untranslated b notices
val = make_pairs(150)
fwd = lambda ps: encode([(["<2b>"] + a, b) for a, b in ps])
rev = lambda ps: encode([(["<2a>"] + b, a) for a, b in ps])
Xva, Iva, Yva = fwd(val)


def train(model, X, I, Y, steps, tag, every=50):
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(model, loss_fn)
    for s in range(1, steps + 1):
        idx = rng.integers(0, len(X), 32)
        loss, g = vg(model, mx.array(X[idx]), mx.array(I[idx]), mx.array(Y[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if s % every == 0:
            print(f"[{tag}] step {s:4d}  train smoothed-ce {loss.item():.4f}")


def report(model, tag):
    model.eval()
    vn, va = nll_and_acc(model, mx.array(Xva), mx.array(Iva), mx.array(Yva))
    em = exact_match(greedy(model, mx.array(Xva)), Yva)
    model.train()
    print(f"[{tag}] val a->b  nll {vn:.4f}  tok-acc {va:.3f}  exact {em:.3f}")
    return em


t0 = time.time()
print(f"vocab {V} | parallel pairs {len(pairs)} | untranslated b notices {len(mono_b)} | val {len(val)}")
# stage 1: reverse model b->a on the parallel pairs only, then checkpoint it
reverse = TiedSeq2Seq(V)
Xr, Ir, Yr = rev(pairs)
train(reverse, Xr, Ir, Yr, 250, "stage1 b->a")
reverse.save_weights("ferry_reverse.safetensors")
# stage 2: reload the checkpoint into a fresh model and back-translate the b notices
bt = TiedSeq2Seq(V)
bt.load_weights("ferry_reverse.safetensors")
bt.eval()
Xm, _, _ = encode([(["<2a>"] + b, ["<pad>"]) for b in mono_b])
synth = []
for i in range(0, len(Xm), 250):
    for row, b in zip(greedy(bt, mx.array(Xm[i:i + 250])), mono_b[i:i + 250]):
        row = list(row)
        a = [vocab[t] for t in (row[: row.index(EOS)] if EOS in row else row) if t != PAD][: SRC_LEN - 1]
        synth.append((a, b))
print(f"[stage2] back-translated {len(synth)} notices in {time.time() - t0:.1f}s since start")
# stage 3a: forward baseline on the parallel pairs only
base = TiedSeq2Seq(V)
Xf, If, Yf = fwd(pairs)
train(base, Xf, If, Yf, 300, "stage3 baseline a->b", every=100)
em_base = report(base, "stage3 baseline a->b")
# stage 3b: forward model on parallel + back-translated pairs
aug = TiedSeq2Seq(V)
Xa, Ia, Ya = fwd(pairs + synth)
train(aug, Xa, Ia, Ya, 300, "stage3 augmented a->b", every=100)
em_aug = report(aug, "stage3 augmented a->b")
print(f"exact match gain from back-translation: {em_aug - em_base:+.3f}")
for i in (0, 1):
    s = " ".join(vocab[t] for t in Xva[i] if t != PAD)
    h = greedy(aug, mx.array(Xva[i:i + 1]))[0]
    print("  " + s + "  =>  " + " ".join(vocab[t] for t in h if t not in (PAD, EOS)))
print(f"done in {time.time() - t0:.1f}s")
