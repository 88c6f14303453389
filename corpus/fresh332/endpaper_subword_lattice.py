"""Bindery order notes -> binding style, with a unigram subword tokenizer
learned here (EM over the segmentation lattice), subword regularisation
(segmentations sampled afresh every epoch) and length-bucketed dynamic padding.
"""
import math
import random
import time
from collections import Counter

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 7
random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

STYLES = ["case", "quarter", "full", "limp"]
STEMS = {
    "case": ["cloth", "buckram", "linen", "board"],
    "quarter": ["quarter", "spine", "corner", "marbl"],
    "full": ["calf", "morocco", "goat", "tool"],
    "limp": ["vellum", "limp", "yapp", "tie"],
}
SUFFIX = ["bound", "back", "edge", "ed", "ing", "work", "line", "side", "s", ""]
FILLER = ["please", "rebind", "the", "volume", "in", "with", "and", "for", "a",
          "customer", "copy", "keep", "old", "endpapers", "title", "label", "by",
          "friday", "careful", "repair", "of", "set"]
HELD_OUT = {("goat", "side"), ("linen", "edge"), ("yapp", "work"), ("spine", "line"),
            ("calf", "ing"), ("buckram", "s"), ("tie", "bound"), ("corner", "back")}


def make_note(style, rng, allow_held):
    words = []
    n_key = rng.randint(1, 3)
    for _ in range(n_key):
        while True:
            stem = rng.choice(STEMS[style])
            suf = rng.choice(SUFFIX)
            if allow_held or (stem, suf) not in HELD_OUT:
                break
        words.append(stem + suf)
    if rng.random() < 0.5:  # a distractor stem from another style
        other = rng.choice([s for s in STYLES if s != style])
        words.append(rng.choice(STEMS[other]) + rng.choice(["ed", "s", ""]))
    words += rng.sample(FILLER, rng.randint(3, 7))
    rng.shuffle(words)
    return " ".join(words)


def make_split(n, rng, allow_held, noise=0.08):
    texts, labels = [], []
    for _ in range(n):
        y = rng.randrange(4)
        texts.append(make_note(STYLES[y], rng, allow_held))
        if rng.random() < noise:
            y = rng.randrange(4)
        labels.append(y)
    return texts, np.array(labels, dtype=np.int32)


rng = random.Random(SEED)
train_txt, train_y = make_split(2400, rng, allow_held=False)
val_txt, val_y = make_split(600, rng, allow_held=True)
test_txt, test_y = make_split(1000, rng, allow_held=True)


# ---------------- unigram tokenizer ----------------
MAXLEN = 6


def word_units(text):
    return ["_" + w for w in text.split()]


def lattice_forward(word, logp, scale=1.0):
    n = len(word)
    fwd = [-math.inf] * (n + 1)
    fwd[0] = 0.0
    for i in range(1, n + 1):
        acc = []
        for j in range(max(0, i - MAXLEN), i):
            lp = logp.get(word[j:i])
            if lp is not None and fwd[j] > -math.inf:
                acc.append(fwd[j] + scale * lp)
        if acc:
            m = max(acc)
            fwd[i] = m + math.log(sum(math.exp(a - m) for a in acc))
    return fwd


def lattice_backward(word, logp):
    n = len(word)
    bwd = [-math.inf] * (n + 1)
    bwd[n] = 0.0
    for j in range(n - 1, -1, -1):
        acc = []
        for i in range(j + 1, min(n, j + MAXLEN) + 1):
            lp = logp.get(word[j:i])
            if lp is not None and bwd[i] > -math.inf:
                acc.append(bwd[i] + lp)
        if acc:
            m = max(acc)
            bwd[j] = m + math.log(sum(math.exp(a - m) for a in acc))
    return bwd


def em_step(word_freq, logp):
    counts = Counter()
    total_ll = 0.0
    for w, f in word_freq.items():
        fwd = lattice_forward(w, logp)
        bwd = lattice_backward(w, logp)
        z = fwd[len(w)]
        total_ll += f * z
        for j in range(len(w)):
            for i in range(j + 1, min(len(w), j + MAXLEN) + 1):
                piece = w[j:i]
                lp = logp.get(piece)
                if lp is None:
                    continue
                post = math.exp(fwd[j] + lp + bwd[i] - z)
                if post > 1e-9:
                    counts[piece] += f * post
    tot = sum(counts.values())
    chars = {p for p in logp if len(p) == 1}
    new = {p: math.log(c / tot) for p, c in counts.items() if c > 0}
    for c in chars:
        new.setdefault(c, math.log(0.5 / tot))
    return new, counts, total_ll


def train_unigram(texts, target=180):
    word_freq = Counter(u for t in texts for u in word_units(t))
    sub = Counter()
    for w, f in word_freq.items():
        for j in range(len(w)):
            for i in range(j + 1, min(len(w), j + MAXLEN) + 1):
                sub[w[j:i]] += f
    chars = {p for p in sub if len(p) == 1}
    seeds = {p: c for p, c in sub.items() if len(p) == 1 or c >= 6}
    tot = sum(seeds.values())
    logp = {p: math.log(c / tot) for p, c in seeds.items()}
    rounds = 0
    while True:
        for _ in range(2):
            logp, counts, ll = em_step(word_freq, logp)
            rounds += 1
        multi = [p for p in logp if len(p) > 1]
        if len(multi) + len(chars) <= target:
            break
        keep_n = max(target - len(chars), int(len(multi) * 0.7))
        multi.sort(key=lambda p: -counts.get(p, 0.0))
        kept = set(multi[:keep_n]) | chars
        logp = {p: v for p, v in logp.items() if p in kept}
    logp, counts, ll = em_step(word_freq, logp)
    return logp, rounds + 1, ll / sum(word_freq.values())


t0 = time.time()
LOGP, EM_ROUNDS, LL_PER_WORD = train_unigram(train_txt)
PIECES = sorted(LOGP, key=lambda p: (-LOGP[p], p))
PAD = 0
VOCAB = {p: i + 1 for i, p in enumerate(PIECES)}
V = len(VOCAB) + 1


def viterbi(word):
    n = len(word)
    best = [-math.inf] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for i in range(1, n + 1):
        for j in range(max(0, i - MAXLEN), i):
            lp = LOGP.get(word[j:i])
            if lp is not None and best[j] + lp > best[i]:
                best[i] = best[j] + lp
                back[i] = j
    out, i = [], n
    while i > 0:
        out.append(word[back[i]:i])
        i = back[i]
    return out[::-1]


ALPHA = 0.1
_fwd_cache = {}


def sample_seg(word, r):
    fwd = _fwd_cache.get(word)
    if fwd is None:
        fwd = lattice_forward(word, LOGP, scale=ALPHA)
        _fwd_cache[word] = fwd
    out, i = [], len(word)
    while i > 0:
        cands, ws = [], []
        for j in range(max(0, i - MAXLEN), i):
            lp = LOGP.get(word[j:i])
            if lp is not None and fwd[j] > -math.inf:
                cands.append(j)
                ws.append(fwd[j] + ALPHA * lp)
        m = max(ws)
        probs = [math.exp(w - m) for w in ws]
        u = r.random() * sum(probs)
        k = 0
        while u > probs[k]:
            u -= probs[k]
            k += 1
        j = cands[k]
        out.append(word[j:i])
        i = j
    return out[::-1]


_vit_cache = {}


def encode(text, r=None):
    ids = []
    for w in word_units(text):
        if r is None:
            seg = _vit_cache.get(w)
            if seg is None:
                seg = _vit_cache[w] = viterbi(w)
        else:
            seg = sample_seg(w, r)
        ids.extend(VOCAB[p] for p in seg)
    return ids


def print_edn(**kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        elif isinstance(v, str):
            v = v if v.startswith(":") else f'"{v}"'
        parts.append(f":{k.replace('_', '-')} {v}")
    print("{" + " ".join(parts) + "}", flush=True)


print_edn(event=":tokenizer", kind=":unigram", pieces=len(PIECES), em_rounds=EM_ROUNDS,
          nats_per_word=LL_PER_WORD, secs=round(time.time() - t0, 1))
sr = random.Random(1)
for demo in ["_goatside", "_marbledge", "_quarterline", "_vellumwork"]:
    print_edn(event=":segment", word=demo, viterbi=" ".join(viterbi(demo)),
              samples=" | ".join(" ".join(sample_seg(demo, sr)) for _ in range(4)))


# ---------------- collation ----------------
def collate(seqs):
    L = max(len(s) for s in seqs)
    L = ((L + 3) // 4) * 4
    arr = np.zeros((len(seqs), L), dtype=np.int32)
    for i, s in enumerate(seqs):
        arr[i, :len(s)] = s
    return mx.array(arr), mx.array(arr != PAD)


def bucketed_batches(seqs, labels, bs, r):
    order = sorted(range(len(seqs)), key=lambda i: (len(seqs[i]), r.random()))
    batches = [order[k:k + bs] for k in range(0, len(order), bs)]
    r.shuffle(batches)
    for b in batches:
        ids, mask = collate([seqs[i] for i in b])
        real = sum(len(seqs[i]) for i in b)
        yield ids, mask, mx.array(labels[b]), 1.0 - real / (ids.shape[0] * ids.shape[1])


# ---------------- model ----------------
class NoteClassifier(nn.Module):
    def __init__(self, vocab, dim=48, width=64, classes=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.conv3 = nn.Conv1d(dim, width, 3, padding=1)
        self.conv5 = nn.Conv1d(dim, width, 5, padding=2)
        self.head = nn.Linear(2 * width, classes)

    def __call__(self, ids, mask):
        m = mask[..., None]
        x = self.emb(ids) * m
        h = mx.concatenate([nn.gelu(self.conv3(x)), nn.gelu(self.conv5(x))], axis=-1)
        h = mx.where(m, h, -1e9)
        return self.head(h.max(axis=1))


model = NoteClassifier(V)
mx.eval(model.parameters())

EPOCHS, BS = 7, 32
steps_per_epoch = math.ceil(len(train_txt) / BS)
total = EPOCHS * steps_per_epoch
WARM = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1.0, WARM), optim.cosine_decay(1.0, total - WARM, 0.1)], [WARM])
opt = optim.AdaDelta(learning_rate=sched, rho=0.95, eps=1e-6)


def loss_fn(model, ids, mask, y):
    return nn.losses.cross_entropy(model(ids, mask), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def evaluate(seqs, labels):
    tot_loss, correct = 0.0, 0
    for k in range(0, len(seqs), 200):
        ids, mask = collate(seqs[k:k + 200])
        logits = model(ids, mask)
        y = mx.array(labels[k:k + 200])
        tot_loss += nn.losses.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(axis=1) == y).sum().item()
    return tot_loss / len(seqs), 100.0 * correct / len(seqs)


val_seqs = [encode(t) for t in val_txt]
test_seqs = [encode(t) for t in test_txt]
majority = 100.0 * np.bincount(val_y, minlength=4).max() / len(val_y)
ceiling = 100.0 * (0.92 + 0.08 / 4)
floor_ce = -(0.94 * math.log(0.94) + 3 * 0.02 * math.log(0.02))
print_edn(event=":data", train=len(train_txt), val=len(val_txt), test=len(test_txt),
          mean_tokens=float(np.mean([len(s) for s in val_seqs])), majority_pct=majority,
          noise_ceiling_pct=ceiling, noise_floor_ce=floor_ce)

r_seg = random.Random(11)
r_batch = random.Random(12)
step = 0
for epoch in range(1, EPOCHS + 1):
    t_ep = time.time()
    train_seqs = [encode(t, r_seg) for t in train_txt]  # fresh segmentations each epoch
    run_loss, n_seen, pad_frac = mx.array(0.0), 0, []
    for ids, mask, y, pf in bucketed_batches(train_seqs, train_y, BS, r_batch):
        lr_now = float(sched(step))
        before = [v for _, v in tree_flatten(model.parameters())] if step == 0 else None
        loss, grads = loss_and_grad(model, ids, mask, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if before is not None:
            after = [v for _, v in tree_flatten(model.parameters())]
            moved = max(mx.abs(a - b).max().item() for a, b in zip(after, before))
            print_edn(event=":first-step", lr=lr_now, max_param_change=moved, loss=loss.item())
        step += 1
        run_loss = run_loss + loss * y.shape[0]
        n_seen += y.shape[0]
        pad_frac.append(pf)
    val_ce, val_acc = evaluate(val_seqs, val_y)
    print_edn(epoch=epoch, step=step, lr=float(sched(step - 1)), train_ce_sampled=run_loss.item() / n_seen,
              val_ce_viterbi=val_ce, val_acc_pct=val_acc, majority_pct=majority,
              pad_pct=100.0 * float(np.mean(pad_frac)), secs=round(time.time() - t_ep, 1))

test_ce, test_acc = evaluate(test_seqs, test_y)
r_eval = random.Random(99)
sampled_test = [encode(t, r_eval) for t in test_txt]
s_ce, s_acc = evaluate(sampled_test, test_y)
held = [i for i, t in enumerate(test_txt) if any((s, x) in HELD_OUT for s in sum(STEMS.values(), [])
                                                 for x in SUFFIX if (s + x) in t.split())]
h_ce, h_acc = evaluate([test_seqs[i] for i in held], test_y[held])
print_edn(event=":test", viterbi_acc_pct=test_acc, viterbi_ce=test_ce, sampled_acc_pct=s_acc,
          sampled_ce=s_ce, unseen_combo_notes=len(held), unseen_combo_acc_pct=h_acc,
          majority_pct=majority, noise_ceiling_pct=ceiling)
