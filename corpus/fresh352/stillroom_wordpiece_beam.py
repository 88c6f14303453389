"""Still-room recipe translation: an agglutinative field dialect -> English-like
recipe lines, through a shipped pretrained WordPiece vocabulary shared by both
sides. Tiny pre-LN encoder-decoder built from nn.MultiHeadAttention, token-budget
batches, label-smoothed cross entropy, inverse-sqrt schedule, beam search with a
GNMT length penalty at the end."""
import math
import random
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
np.random.seed(11)
mx.random.seed(11)

# ---------------------------------------------------------------- lexicon
NOUNS = {"talun": "root", "berik": "leaf", "somar": "seed", "kivel": "bark",
         "dorum": "flower", "felat": "resin", "gonir": "moss", "hasup": "berry",
         "lomet": "stem", "nuvar": "petal"}
ADJS = {"ruma": "dried", "selo": "fresh", "pint": "bitter", "dago": "sweet",
        "vire": "red", "kola": "black"}
VERBS = {"mol": "boil", "sek": "mix", "bar": "store", "tuf": "crush",
         "len": "soak", "ros": "heat"}

# "pretrained" WordPiece vocabulary, as shipped with a tokenizer file
SPECIAL = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]
PIECES = (["talun", "berik", "som", "##ar", "ki", "##vel", "dorum", "fel", "##at",
           "gonir", "hasup", "lo", "##met", "nuvar"]
          + list(ADJS) + list(VERBS)
          + ["##ek", "##ti", "##sa"]
          + ["root", "leaf", "seed", "bark", "flower", "resin", "moss", "berry",
             "stem", "petal", "dried", "fresh", "bitter", "sweet", "red", "black",
             "boil", "mix", "store", "crush", "soak", "heat", "the", "with",
             "##s", "##ed"])
VOCAB = SPECIAL + PIECES
TOK = {t: i for i, t in enumerate(VOCAB)}
PAD, BOS, EOS, UNK = 0, 1, 2, 3
V = len(VOCAB)


def wordpiece(word):
    out, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in TOK:
                cur = sub
                break
            end -= 1
        if cur is None:
            return [UNK]
        out.append(TOK[cur])
        start = end
    return out


def encode(text):
    ids = []
    for w in text.split():
        ids += wordpiece(w)
    return ids


def decode(ids):
    words = []
    for i in ids:
        t = VOCAB[i]
        if t.startswith("##") and words:
            words[-1] += t[2:]
        else:
            words.append(t)
    return " ".join(words)


def sample_pair():
    n1 = random.choice(list(NOUNS))
    adj = random.choice(list(ADJS))
    verb = random.choice(list(VERBS))
    pl1, past = random.random() < 0.5, random.random() < 0.5
    src = [n1 + ("ek" if pl1 else ""), adj]
    tgt_obj = ["the", ADJS[adj], NOUNS[n1] + ("s" if pl1 else "")]
    tgt_with = []
    if random.random() < 0.5:
        n2 = random.choice(list(NOUNS))
        pl2 = random.random() < 0.5
        src.append(n2 + ("ek" if pl2 else "") + "sa")
        tgt_with = ["with", "the", NOUNS[n2] + ("s" if pl2 else "")]
    src.append(verb + ("ti" if past else ""))
    tgt = [VERBS[verb] + ("ed" if past else "")] + tgt_obj + tgt_with
    return " ".join(src), " ".join(tgt)


def gloss_baseline(src):
    """word-for-word dictionary gloss in source order (no reordering)"""
    out = []
    for w in src.split():
        sa = w.endswith("sa")
        w = w[:-2] if sa else w
        past = w.endswith("ti") and w[:-2] in VERBS
        w = w[:-2] if past else w
        pl = w.endswith("ek") and w[:-2] in NOUNS
        w = w[:-2] if pl else w
        if w in NOUNS:
            out += (["with"] if sa else []) + ["the", NOUNS[w] + ("s" if pl else "")]
        elif w in ADJS:
            out.append(ADJS[w])
        elif w in VERBS:
            out.append(VERBS[w] + ("ed" if past else ""))
    return " ".join(out)


pairs = [sample_pair() for _ in range(3200)]
train_pairs, test_pairs = pairs[:3000], pairs[3000:]
assert all(UNK not in encode(s) + encode(t) for s, t in pairs)

SRC_LEN, TGT_LEN = 10, 14


def to_arrays(batch):
    B = len(batch)
    src = np.zeros((B, SRC_LEN), np.int32)
    tin = np.zeros((B, TGT_LEN), np.int32)
    tout = np.zeros((B, TGT_LEN), np.int32)
    for i, (s, t) in enumerate(batch):
        si, ti = encode(s), encode(t)
        src[i, :len(si)] = si
        seq = [BOS] + ti + [EOS]
        tin[i, :len(seq) - 1] = seq[:-1]
        tout[i, :len(seq) - 1] = seq[1:]
    return mx.array(src), mx.array(tin), mx.array(tout)


def token_budget_batches(data, max_tokens=560):
    """sort by target length inside shuffled pools, cut batches by token budget"""
    idx = list(range(len(data)))
    random.shuffle(idx)
    batches = []
    for p in range(0, len(idx), 800):
        pool = sorted(idx[p:p + 800], key=lambda k: len(encode(data[k][1])))
        cur, longest = [], 0
        for k in pool:
            L = len(encode(data[k][1])) + 1
            if cur and max(longest, L) * (len(cur) + 1) > max_tokens:
                batches.append(cur)
                cur, longest = [], 0
            cur.append(k)
            longest = max(longest, L)
        if cur:
            batches.append(cur)
    random.shuffle(batches)
    return batches


# ---------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, d, heads, cross):
        super().__init__()
        self.n1 = nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, heads)
        self.cross = cross
        if cross:
            self.n2 = nn.LayerNorm(d)
            self.xatt = nn.MultiHeadAttention(d, heads)
        self.n3 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask, mem=None, mem_mask=None):
        h = self.n1(x)
        x = x + self.att(h, h, h, mask)
        if self.cross:
            h = self.n2(x)
            x = x + self.xatt(h, mem, mem, mem_mask)
        return x + self.ff(self.n3(x))


class Translator(nn.Module):
    def __init__(self, d=48, heads=4):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(32, d)
        self.enc = Block(d, heads, cross=False)
        self.dec = Block(d, heads, cross=True)
        self.ne = nn.LayerNorm(d)
        self.nd = nn.LayerNorm(d)
        self.scale = math.sqrt(d)

    def embed(self, ids):
        return self.emb(ids) * self.scale + self.pos(mx.arange(ids.shape[1]))

    def encode(self, src):
        pad = (src == PAD)[:, None, None, :]
        src_mask = mx.where(pad, -1e9, 0.0)
        return self.ne(self.enc(self.embed(src), src_mask)), src_mask

    def decode(self, tin, mem, src_mask):
        T = tin.shape[1]
        causal = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.dec(self.embed(tin), causal, mem, src_mask)
        return self.emb.as_linear(self.nd(h))

    def __call__(self, src, tin):
        mem, m = self.encode(src)
        return self.decode(tin, mem, m)


EPS = 0.1
FLOOR = -(1 - EPS) * math.log(1 - EPS) - EPS * math.log(EPS / (V - 1))


def loss_fn(model, src, tin, tout):
    logits = model(src, tin)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    nll = -mx.take_along_axis(logp, tout[..., None], axis=-1)[..., 0]
    other = -(mx.sum(logp, axis=-1) + nll) / (V - 1)   # mean -logp over non-gold
    smoothed = (1 - EPS) * nll + EPS * other
    mask = (tout != PAD).astype(mx.float32)
    ntok = mask.sum()
    return (smoothed * mask).sum() / ntok, (nll * mask).sum() / ntok


# ---------------------------------------------------------------- decoding
def greedy(model, src):
    mem, m = model.encode(src)
    ys = mx.full((src.shape[0], 1), BOS, dtype=mx.int32)
    for _ in range(TGT_LEN - 1):
        nxt = mx.argmax(model.decode(ys, mem, m)[:, -1], axis=-1)
        ys = mx.concatenate([ys, nxt[:, None].astype(mx.int32)], axis=1)
    mx.eval(ys)
    return [cut(r) for r in np.array(ys)[:, 1:]]


def cut(row):
    out = []
    for t in row:
        if t == EOS:
            break
        out.append(int(t))
    return out


def beam_search(model, src, beam=4, alpha=0.6):
    N = src.shape[0]
    mem, m = model.encode(src)
    mem = mx.repeat(mem, beam, axis=0)
    m = mx.repeat(m, beam, axis=0)
    seqs = np.full((N * beam, 1), BOS, np.int32)
    scores = np.tile(np.array([0.0] + [-1e9] * (beam - 1)), N)
    done = np.zeros(N * beam, bool)
    lengths = np.zeros(N * beam)
    for _ in range(TGT_LEN - 1):
        logits = model.decode(mx.array(seqs), mem, m)[:, -1]
        logp = np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True))
        logp[done] = -1e9
        logp[done, PAD] = 0.0               # finished hypotheses only extend with PAD
        cand = (scores[:, None] + logp).reshape(N, beam * V)
        top = np.argsort(-cand, axis=1)[:, :beam]
        prev = (top // V) + np.arange(N)[:, None] * beam
        tok = top % V
        prev, tok = prev.reshape(-1), tok.reshape(-1)
        scores = cand[np.repeat(np.arange(N), beam), top.reshape(-1)]
        seqs = np.concatenate([seqs[prev], tok[:, None]], axis=1)
        was_done = done[prev]
        lengths = lengths[prev] + (~was_done)
        done = was_done | (tok == EOS)
        if done.all():
            break
    lp = ((5 + lengths) / 6) ** alpha
    final = (scores / lp).reshape(N, beam)
    best = np.argmax(final, axis=1) + np.arange(N) * beam
    return [cut([t for t in seqs[b, 1:] if t != PAD]) for b in best]


def score(hyps, refs):
    exact = np.mean([h == r for h, r in zip(hyps, refs)])
    acc = np.mean([sum(a == b for a, b in zip(h.split(), r.split())) / max(len(r.split()), len(h.split()))
                   for h, r in zip(hyps, refs)])
    return exact, acc


# ---------------------------------------------------------------- training
model = Translator()
mx.eval(model.parameters())
PEAK, WARM = 4e-3, 80


def inv_sqrt(step):
    step = step.astype(mx.float32)
    return PEAK * mx.minimum(step / WARM, mx.sqrt(WARM / mx.maximum(step, 1.0)))


opt = optim.Adam(learning_rate=inv_sqrt, betas=[0.9, 0.98])
grad_fn = nn.value_and_grad(model, loss_fn)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(src, tin, tout):
    (l, nll), g = grad_fn(model, src, tin, tout)
    g, _ = optim.clip_grad_norm(g, 1.0)
    opt.update(model, g)
    return l, nll


test_src = mx.array(to_arrays(test_pairs)[0])
test_ref = [t for _, t in test_pairs]
base_exact, base_acc = score([gloss_baseline(s) for s, _ in test_pairs], test_ref)
print(f"vocab {V} wordpieces | train {len(train_pairs)} test {len(test_pairs)} | "
      f"label smoothing {EPS} -> loss floor {FLOOR:.4f}")
print(f"e.g. {test_pairs[0][0]!r} -> {[VOCAB[i] for i in encode(test_pairs[0][0])]}")
print(f"dictionary gloss baseline: exact {base_exact:.3f} word-acc {base_acc:.3f}")

t0 = time.time()
gstep, EPOCHS = 0, 4
for epoch in range(1, EPOCHS + 1):
    model.train()
    batches = token_budget_batches(train_pairs)
    tot, totn, ntok_seen = 0.0, 0.0, 0
    for b in batches:
        src, tin, tout = to_arrays([train_pairs[k] for k in b])
        l, nll = step(src, tin, tout)
        mx.eval(state, l, nll)
        tot += l.item()
        totn += nll.item()
        gstep += 1
        if gstep == 1:
            print(f"step 1 lr {inv_sqrt(mx.array(0)).item():.2e} loss {l.item():.4f}")
    line = (f"epoch {epoch} steps {gstep} batches {len(batches)} "
            f"lr {inv_sqrt(mx.array(gstep)).item():.2e} ls-loss {tot / len(batches):.4f} "
            f"(floor {FLOOR:.4f}) nll {totn / len(batches):.4f}")
    if epoch % 2 == 0:
        model.eval()
        ex, acc = score([decode(h) for h in greedy(model, test_src)], test_ref)
        line += f" | greedy exact {ex:.3f} word-acc {acc:.3f}"
    print(line)

model.eval()
g_ex, g_acc = score([decode(h) for h in greedy(model, test_src)], test_ref)
b_hyps = [decode(h) for h in beam_search(model, test_src)]
b_ex, b_acc = score(b_hyps, test_ref)
for (s, r), h in list(zip(test_pairs, b_hyps))[:3]:
    print(f"  {s:<32} -> {h:<36} | ref {r}")
print(f"final test: gloss baseline exact {base_exact:.3f} | greedy exact {g_ex:.3f} "
      f"| beam4 exact {b_ex:.3f} word-acc {b_acc:.3f} | {time.time() - t0:.1f}s")
