"""Expand abbreviated herbarium sheet labels into full catalogue entries.

Source:  "Q. rob. coll. <collector> <year> nr. <place> [det. <name>]"
Target:  "Quercus robur collected by <collector> in <year> near|close to <place>
          [determined by <name>] <eos>"

Collector names, places and years are NOT in the decoder's output vocabulary:
they can only be produced by copying from the source (pointer-generator,
See et al. 2017).  Held-out labels use collectors and places never seen in
training.  Metrics go out as InfluxDB line protocol.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 7
mx.random.seed(SEED)
rng = np.random.default_rng(SEED)

# ----------------------------------------------------------------- vocabulary
SPECIAL = ["<pad>", "<bos>", "<eos>"]
GENERA = {"Q.": "Quercus", "F.": "Fraxinus", "A.": "Acer", "B.": "Betula",
          "S.": "Salix", "P.": "Pinus"}
SPECIES = {"rob.": "robur", "exc.": "excelsior", "camp.": "campestre",
           "pend.": "pendula", "alb.": "alba", "syl.": "sylvestris"}
WORDS = ["coll.", "nr.", "det.", "collected", "by", "in", "near", "close",
         "to", "determined"]
CORE_WORDS = SPECIAL + list(GENERA) + list(GENERA.values()) + list(SPECIES) \
    + list(SPECIES.values()) + WORDS
K = len(CORE_WORDS)                     # size of the generation vocabulary

syl_a = ["Har", "Ash", "Bel", "Cor", "Dun", "Fen", "Gar", "Hol", "Kir", "Lan",
         "Mor", "Pen", "Rad", "Stan", "Thorn", "Wil"]
syl_b = ["well", "by", "ford", "ton", "ley", "wick", "ham", "stead", "combe",
         "field", "worth", "den", "more", "gate"]
surnames = sorted({a + b for a in syl_a for b in syl_b})
rng.shuffle(surnames)
collectors_train, collectors_new = surnames[:110], surnames[110:150]
places_train, places_new = surnames[150:190], surnames[190:224]
place_names = ["@" + p for p in places_train + places_new]   # mark places
years = [str(y) for y in range(1890, 1950)]

NAMES = collectors_train + collectors_new + place_names + years
VOCAB = CORE_WORDS + NAMES
V = len(VOCAB)
ID = {w: i for i, w in enumerate(VOCAB)}
PAD, BOS, EOS = 0, 1, 2
P_NEAR = 0.7                       # "nr." -> "near" (70%) or "close to" (30%)
FLOOR = -(P_NEAR * math.log(P_NEAR) + (1 - P_NEAR) * math.log(1 - P_NEAR))


def make_label(collectors, places):
    g = rng.choice(list(GENERA))
    s = rng.choice(list(SPECIES))
    c = collectors[rng.integers(len(collectors))]
    p = "@" + places[rng.integers(len(places))]
    y = years[rng.integers(len(years))]
    src = [g, s, "coll.", c, y, "nr.", p]
    tgt = [GENERA[g], SPECIES[s], "collected", "by", c, "in", y]
    tgt += ["near"] if rng.random() < P_NEAR else ["close", "to"]
    tgt += [p]
    if rng.random() < 0.5:
        d = collectors[rng.integers(len(collectors))]
        src += ["det.", d]
        tgt += ["determined", "by", d]
    return [ID[w] for w in src], [ID[w] for w in tgt] + [EOS]


def batchify(pairs):
    S = max(len(s) for s, _ in pairs)
    T = max(len(t) for _, t in pairs)
    src = np.full((len(pairs), S), PAD, np.int32)
    tgt = np.full((len(pairs), T), PAD, np.int32)
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)] = s
        tgt[i, :len(t)] = t
    dec_in = np.concatenate([np.full((len(pairs), 1), BOS, np.int32),
                             tgt[:, :-1]], axis=1)
    return mx.array(src), mx.array(dec_in), mx.array(tgt)


def sample_batch(n, collectors, places):
    return batchify([make_label(collectors, places) for _ in range(n)])


# ----------------------------------------------------------------- model
class CopyExpander(nn.Module):
    def __init__(self, emb=32, hid=64):
        super().__init__()
        self.embed = nn.Embedding(V, emb)
        self.enc_fwd = nn.GRU(emb, hid // 2)
        self.enc_bwd = nn.GRU(emb, hid // 2)
        self.dec = nn.GRU(emb, hid)
        self.bridge = nn.Linear(hid, hid)
        self.query = nn.Linear(hid, hid, bias=False)
        self.out = nn.Linear(2 * hid, K)
        self.switch = nn.Linear(2 * hid + emb, 1)

    def encode(self, src):
        x = self.embed(src)
        pad = (src == PAD)[..., None]
        x = mx.where(pad, 0.0, x)
        h_f = self.enc_fwd(x)
        h_b = self.enc_bwd(x[:, ::-1])[:, ::-1]
        mem = mx.concatenate([h_f, h_b], axis=-1)
        lengths = (src != PAD).sum(axis=1)
        last_f = mx.take_along_axis(h_f, (lengths - 1)[:, None, None], axis=1)[:, 0]
        h0 = mx.tanh(self.bridge(mx.concatenate([last_f, h_b[:, 0]], axis=-1)))
        return mem, h0

    def step_dist(self, src, mem, h, y_emb):
        """h: (B,T,H) decoder states -> mixture distribution over V."""
        scores = self.query(h) @ mem.transpose(0, 2, 1) / math.sqrt(h.shape[-1])
        scores = mx.where((src == PAD)[:, None, :], -1e9, scores)
        attn = mx.softmax(scores, axis=-1)                       # (B,T,S)
        ctx = attn @ mem                                         # (B,T,H)
        p_vocab = mx.softmax(self.out(mx.concatenate([h, ctx], -1)), axis=-1)
        p_vocab = mx.concatenate(
            [p_vocab, mx.zeros(p_vocab.shape[:2] + (V - K,))], axis=-1)
        onehot = (src[..., None] == mx.arange(V)).astype(mx.float32)  # (B,S,V)
        p_copy = attn @ onehot                                   # (B,T,V)
        p_gen = mx.sigmoid(self.switch(mx.concatenate([h, ctx, y_emb], -1)))
        return p_gen * p_vocab + (1 - p_gen) * p_copy, p_gen

    def __call__(self, src, dec_in):
        mem, h0 = self.encode(src)
        y_emb = self.embed(dec_in)
        h = self.dec(y_emb, hidden=h0)
        return self.step_dist(src, mem, h, y_emb)

    def greedy(self, src, max_len=16):
        mem, h = self.encode(src)
        y = mx.full((src.shape[0],), BOS, dtype=mx.int32)
        outs = []
        for _ in range(max_len):
            y_emb = self.embed(y)[:, None]
            hs = self.dec(y_emb, hidden=h)
            h = hs[:, -1]
            p, _ = self.step_dist(src, mem, hs, y_emb)
            y = mx.argmax(p[:, 0], axis=-1).astype(mx.int32)
            outs.append(y)
        return mx.stack(outs, axis=1)


def loss_fn(model, src, dec_in, tgt):
    p, p_gen = model(src, dec_in)
    mask = (tgt != PAD).astype(mx.float32)
    nll = -mx.log(mx.take_along_axis(p, tgt[..., None], axis=-1)[..., 0] + 1e-9)
    per_sent = (nll * mask).sum(axis=1)
    tok = (nll * mask).sum() / mask.sum()
    return tok, (per_sent.mean(), (p_gen[..., 0] * mask).sum() / mask.sum())


def strip(seq):
    out = []
    for t in seq:
        if t == EOS:
            break
        out.append(t)
    return out


def evaluate(model, data):
    src, dec_in, tgt = data
    tok, (sent, pg) = loss_fn(model, src, dec_in, tgt)
    pred = np.array(model.greedy(src))
    gold = np.array(tgt)
    exact, copied, n_names = 0, 0, 0
    for pr, go in zip(pred, gold):
        pr, go = strip(pr.tolist()), strip(go.tolist())
        exact += int(pr == go or _alt_ok(pr, go))
        for j, t in enumerate(go):
            if t >= K:
                n_names += 1
                copied += int(t in pr)
    return (tok.item(), sent.item(), pg.item(), 100.0 * exact / len(gold),
            100.0 * copied / max(n_names, 1))


def _alt_ok(pr, go):
    """'near' and 'close to' are both right expansions of 'nr.'."""
    def canon(s):
        s = list(s)
        out, i = [], 0
        while i < len(s):
            if s[i] == ID["close"] and i + 1 < len(s) and s[i + 1] == ID["to"]:
                out.append(ID["near"])
                i += 2
            else:
                out.append(s[i])
                i += 1
        return out
    return canon(pr) == canon(go)


def line(measurement, tags, fields):
    tag_s = ",".join(f"{k}={v}" for k, v in tags.items())
    fld = ",".join(f"{k}={v}i" if isinstance(v, int) else f"{k}={v:.5g}"
                   for k, v in fields.items())
    print(f"{measurement},{tag_s} {fld} {time.time_ns()}", flush=True)


# ----------------------------------------------------------------- training
STEPS, WARM, BATCH = 180, 30, 32
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM),
     optim.cosine_decay(3e-3, STEPS - WARM, 2e-5)], [WARM])
model = CopyExpander()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, loss_fn)

valid_seen = sample_batch(200, collectors_train, places_train)
valid_new = sample_batch(200, collectors_new, places_new)
n_params = sum(v.size for _, v in __import__("mlx.utils").utils.tree_flatten(
    model.trainable_parameters()))
line("herbarium_meta", {"run": "copyexpand"},
     {"params": int(n_params), "vocab_all": V, "vocab_gen": K,
      "chance_nll_tok": math.log(V), "floor_nll_sent": FLOOR})

t0 = time.perf_counter()
for step in range(1, STEPS + 1):
    src, dec_in, tgt = sample_batch(BATCH, collectors_train, places_train)
    (loss, (sent, pg)), grads = loss_and_grad(model, src, dec_in, tgt)
    if step == 1:
        from mlx.utils import tree_flatten
        norms = [mx.linalg.norm(g).item() for _, g in tree_flatten(grads)]
        line("herbarium_grad", {"run": "copyexpand"},
             {"leaves": len(norms), "zero_leaves": sum(n == 0 for n in norms),
              "global_norm": math.sqrt(sum(n * n for n in norms))})
    grads, _ = optim.clip_grad_norm(grads, 2.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 20 == 0:
        line("herbarium_train", {"run": "copyexpand"},
             {"step": step, "lr": float(opt.learning_rate.item()),
              "nll_tok": loss.item(), "nll_sent": sent.item(),
              "p_gen": pg.item(), "secs": time.perf_counter() - t0})
    if step % 60 == 0:
        for name, data in (("seen", valid_seen), ("unseen", valid_new)):
            tok, snt, pgv, ex, cp = evaluate(model, data)
            line("herbarium_valid", {"run": "copyexpand", "names": name},
                 {"step": step, "nll_tok": tok, "nll_sent": snt,
                  "floor_nll_sent": FLOOR, "p_gen": pgv,
                  "exact_pct": ex, "copied_pct": cp})

src, _, tgt = valid_new
pred = np.array(model.greedy(src[:3]))
for i in range(3):
    s = " ".join(VOCAB[t] for t in np.array(src[i]).tolist() if t != PAD)
    o = " ".join(VOCAB[t] for t in strip(pred[i].tolist()))
    print(f"# {s}  =>  {o}".replace("@", ""))
line("herbarium_done", {"run": "copyexpand"},
     {"steps": STEPS, "secs": time.perf_counter() - t0})
