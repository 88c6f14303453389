"""Pantry-shelf camera VQA, trained from scratch.

Synthetic 16x16 RGB shelf snapshots: a 4x4 grid of slots, each empty or holding a
jar / tin / box in one of four label colours.  Questions are short token strings of
different lengths (right-padded), answered by ten simulated annotators.

Model: Conv2d slot encoder (one 4x4 region feature per slot), word + position
Embedding question encoder (masked mean over the valid tokens), two-hop stacked
attention over the 16 slot features, answer classifier over an answer vocabulary
built from the training answers with a minimum count.

Targets are the usual soft VQA scores min(#annotators / 3, 1), trained with binary
cross-entropy summed over answers, so the loss keeps a floor well above zero.
Metric: soft VQA accuracy, printed beside a question-type prior and chance.
"""

import math
import time
from collections import Counter
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 7
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

COLOURS = ["red", "green", "blue", "yellow"]
RGB = {"red": (0.9, 0.15, 0.1), "green": (0.1, 0.8, 0.2),
       "blue": (0.15, 0.25, 0.95), "yellow": (0.95, 0.85, 0.1)}
KINDS = ["jar", "tin", "box"]
N_ANNOT = 10
MIN_ANSWER_COUNT = 12


def draw_item(img, r, c, kind, colour):
    px = np.zeros((4, 4), dtype=np.float32)
    if kind == "box":
        px[:, :] = 1.0
    elif kind == "tin":
        px[1:3, :] = 1.0
        px[:, 1:3] = 1.0
    else:  # jar
        px[np.arange(4), np.arange(4)] = 1.0
        px[np.arange(4), 3 - np.arange(4)] = 1.0
    col = np.array(RGB[colour], dtype=np.float32)
    img[r * 4:(r + 1) * 4, c * 4:(c + 1) * 4, :] = px[..., None] * col


def make_scene():
    n_items = int(rng.integers(2, 7))
    cells = rng.choice(16, size=n_items, replace=False)
    items = []
    for cell in cells:
        items.append((int(cell), KINDS[int(rng.integers(3))], COLOURS[int(rng.integers(4))]))
    img = np.zeros((16, 16, 3), dtype=np.float32)
    for cell, kind, colour in items:
        draw_item(img, cell // 4, cell % 4, kind, colour)
    img += rng.normal(0, 0.05, img.shape).astype(np.float32)
    return img, items


def ask(items):
    """Return (question tokens, question type, true answer, confusable answers)."""
    kinds_present = Counter(k for _, k, _ in items)
    qtype = rng.choice(["count", "colour_of", "kind_of"])
    if qtype == "count":
        colour = COLOURS[int(rng.integers(4))]
        n = sum(1 for _, _, c in items if c == colour)
        return ["how", "many", colour, "items", "?"], "count", str(n), [str(max(n - 1, 0)), str(n + 1)]
    if qtype == "colour_of":
        unique = [k for k, n in kinds_present.items() if n == 1]
        if unique:
            kind = unique[int(rng.integers(len(unique)))]
            colour = [c for _, k, c in items if k == kind][0]
            return ["colour", "of", kind, "?"], "colour_of", colour, COLOURS
    colour_counts = Counter(c for _, _, c in items)
    unique = [c for c, n in colour_counts.items() if n == 1]
    if unique:
        colour = unique[int(rng.integers(len(unique)))]
        kind = [k for _, k, c in items if c == colour][0]
        return ["which", "kind", "is", colour, "?"], "kind_of", kind, KINDS
    n = len(items)
    return ["how", "many", "items", "?"], "count", str(n), [str(n - 1), str(n + 1)]


def annotate(true, confusable):
    votes = []
    for _ in range(N_ANNOT):
        if rng.random() < 0.8:
            votes.append(true)
        else:
            votes.append(confusable[int(rng.integers(len(confusable)))])
    return Counter(votes)


def build(n):
    imgs, qs, qtypes, votes = [], [], [], []
    for _ in range(n):
        img, items = make_scene()
        q, qt, true, conf = ask(items)
        imgs.append(img)
        qs.append(q)
        qtypes.append(qt)
        votes.append(annotate(true, conf))
    return np.stack(imgs), qs, qtypes, votes


t0 = time.perf_counter()
train_raw = build(2400)
val_raw = build(600)

# vocabularies from the training split only
word_counts = Counter(w for q in train_raw[1] for w in q)
words = ["<pad>", "<unk>"] + sorted(word_counts)
w2i = {w: i for i, w in enumerate(words)}
answer_counts = Counter()
for v in train_raw[3]:
    answer_counts[v.most_common(1)[0][0]] += 1
answers = sorted(a for a, n in answer_counts.items() if n >= MIN_ANSWER_COUNT)
a2i = {a: i for i, a in enumerate(answers)}
dropped = sorted(a for a, n in answer_counts.items() if n < MIN_ANSWER_COUNT)
MAX_LEN = max(len(q) for q in train_raw[1] + val_raw[1])


def encode(raw):
    imgs, qs, qtypes, votes = raw
    toks = np.zeros((len(qs), MAX_LEN), dtype=np.int32)
    lens = np.zeros((len(qs),), dtype=np.int32)
    for i, q in enumerate(qs):
        ids = [w2i.get(w, 1) for w in q]
        toks[i, :len(ids)] = ids
        lens[i] = len(ids)
    soft = np.zeros((len(qs), len(answers)), dtype=np.float32)
    for i, v in enumerate(votes):
        for a, n in v.items():
            if a in a2i:
                soft[i, a2i[a]] = min(n / 3.0, 1.0)
    return imgs, toks, lens, soft, list(qtypes)


tr_img, tr_tok, tr_len, tr_soft, tr_qt = encode(train_raw)
va_img, va_tok, va_len, va_soft, va_qt = encode(val_raw)

print(f"built {len(tr_tok)} train / {len(va_tok)} val questions in {time.perf_counter() - t0:.1f}s")
print(f"question vocab {len(words)} words, max length {MAX_LEN} tokens, lengths "
      f"{sorted(Counter(tr_len.tolist()).items())}")
print(f"answer vocab {len(answers)} (min count {MIN_ANSWER_COUNT}); left out as too rare: {dropped}")
coverage = float((tr_soft.max(axis=1) > 0).mean())
print(f"train questions whose answers are in the vocab: {coverage:.3f}")

# baselines: chance and the per-question-type prior (most frequent answer by soft score)
prior = {}
for qt in set(tr_qt):
    idx = [i for i, t in enumerate(tr_qt) if t == qt]
    prior[qt] = int(tr_soft[idx].sum(axis=0).argmax())
prior_acc = float(np.mean([va_soft[i, prior[qt]] for i, qt in enumerate(va_qt)]))
chance_acc = float(va_soft.mean())
print(f"val baselines: chance {chance_acc:.3f}, question-type prior {prior_acc:.3f}")
ceiling = float(va_soft.max(axis=1).mean())
print(f"val ceiling (best possible soft score) {ceiling:.3f}")


class StackedAttentionVQA(nn.Module):
    def __init__(self, n_words, n_answers, d=64, hops=2):
        super().__init__()
        self.slots = nn.Conv2d(3, 32, kernel_size=4, stride=4)
        self.slot_proj = nn.Linear(32, d)
        self.slot_pos = nn.Embedding(16, d)
        self.embed = nn.Embedding(n_words, d)
        self.pos = nn.Embedding(MAX_LEN, d)
        self.q_mlp = nn.Linear(d, d)
        self.att_img = [nn.Linear(d, d) for _ in range(hops)]
        self.att_q = [nn.Linear(d, d) for _ in range(hops)]
        self.att_score = [nn.Linear(d, 1) for _ in range(hops)]
        self.drop = nn.Dropout(0.2)
        self.mid = nn.Linear(d, 2 * d)
        self.out = nn.Linear(2 * d, n_answers)

    def __call__(self, img, tok, lens):
        v = nn.relu(self.slots(img))                       # (B, 4, 4, 32)
        v = nn.gelu(self.slot_proj(v.reshape(v.shape[0], 16, 32)) + self.slot_pos(mx.arange(16)))
        positions = mx.arange(tok.shape[1])
        h = nn.gelu(self.q_mlp(self.embed(tok) + self.pos(positions)))  # (B, T, d)
        mask = (positions[None, :] < lens[:, None]).astype(h.dtype)        # right padding
        u = (h * mask[..., None]).sum(axis=1) / lens[:, None].astype(h.dtype)
        for wi, wq, ws in zip(self.att_img, self.att_q, self.att_score):
            a = nn.gelu(wi(v) + wq(u)[:, None, :])
            s = ws(self.drop(a)).squeeze(-1)
            p = mx.softmax(s, axis=-1)
            u = u + (p[..., None] * v).sum(axis=1) + (mx.sigmoid(s)[..., None] * v).sum(axis=1) / 4
        return self.out(nn.gelu(self.mid(self.drop(u))))


def loss_fn(model, img, tok, lens, soft):
    logits = model(img, tok, lens)
    bce = nn.losses.binary_cross_entropy(logits, soft, with_logits=True, reduction="none")
    return bce.sum(axis=-1).mean()


def evaluate(model, img, tok, lens, soft, bs=256):
    model.eval()
    total_loss, total_score = 0.0, 0.0
    for s in range(0, len(tok), bs):
        x, t, l, y = (mx.array(img[s:s + bs]), mx.array(tok[s:s + bs]),
                      mx.array(lens[s:s + bs]), mx.array(soft[s:s + bs]))
        logits = model(x, t, l)
        bce = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="none").sum(axis=-1)
        pred = mx.argmax(logits, axis=-1)
        score = mx.take_along_axis(y, pred[:, None], axis=1).squeeze(1)
        total_loss += bce.sum().item()
        total_score += score.sum().item()
    model.train()
    return total_loss / len(tok), total_score / len(tok)


model = StackedAttentionVQA(len(words), len(answers))
mx.eval(model.parameters())
n_params = sum(p.size for _, p in tree_flatten(model.trainable_parameters()))
print(f"model: {n_params} trainable parameters")

lr = 1e-3
optimizer = optim.Adam(learning_rate=lr)
loss_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.state, optimizer.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(img, tok, lens, soft):
    loss, grads = loss_and_grad(model, img, tok, lens, soft)
    grads, _ = optim.clip_grad_norm(grads, 5.0)
    optimizer.update(model, grads)
    return loss


# soft-score floor: the loss a perfect predictor of the soft scores would still pay
p = np.clip(va_soft, 1e-7, 1 - 1e-7)
floor = float((-(va_soft * np.log(p) + (1 - va_soft) * np.log(1 - p))).sum(axis=1).mean())
print(f"irreducible val BCE of the soft targets themselves: {floor:.3f}")

BATCH = 32
MAX_EPOCHS = 34
PLATEAU_PATIENCE = 3
STOP_PATIENCE = 6
best_acc, best_epoch, best_params = -1.0, -1, None
since_best = 0
since_lr_change = 0

print("epoch,lr,train_bce,val_bce,val_vqa_acc,prior_acc")
for epoch in range(1, MAX_EPOCHS + 1):
    perm = rng.permutation(len(tr_tok))
    run_loss, n_batches = 0.0, 0
    for s in range(0, len(perm) - BATCH + 1, BATCH):
        idx = perm[s:s + BATCH]
        batch = (mx.array(tr_img[idx]), mx.array(tr_tok[idx]),
                 mx.array(tr_len[idx]), mx.array(tr_soft[idx]))
        loss = train_step(*batch)
        mx.eval(state, loss)
        run_loss += loss.item()
        n_batches += 1
    val_loss, val_acc = evaluate(model, va_img, va_tok, va_len, va_soft)
    print(f"{epoch},{lr:.2e},{run_loss / n_batches:.4f},{val_loss:.4f},{val_acc:.4f},{prior_acc:.4f}")

    if val_acc > best_acc + 1e-4:
        best_acc, best_epoch = val_acc, epoch
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        since_best = 0
        since_lr_change = 0
    else:
        since_best += 1
        since_lr_change += 1
    if since_lr_change >= PLATEAU_PATIENCE and lr > 2e-4:
        lr = lr * 0.5
        optimizer.learning_rate = mx.array(lr)
        since_lr_change = 0
        print(f"# val accuracy flat for {PLATEAU_PATIENCE} epochs -> learning rate now {lr:.2e}")
    if since_best >= STOP_PATIENCE:
        print(f"# early stop after epoch {epoch}: no gain since epoch {best_epoch}")
        break

model.update(best_params)
mx.eval(model.parameters())
val_loss, val_acc = evaluate(model, va_img, va_tok, va_len, va_soft)
print(f"restored epoch {best_epoch}: val_bce {val_loss:.4f} (floor {floor:.3f}), "
      f"val VQA accuracy {val_acc:.4f} (ceiling {ceiling:.3f})")

# per question type, beside the prior
model.eval()
logits = model(mx.array(va_img), mx.array(va_tok), mx.array(va_len))
pred = np.array(mx.argmax(logits, axis=-1))
for qt in sorted(set(va_qt)):
    idx = [i for i, t in enumerate(va_qt) if t == qt]
    acc = float(np.mean([va_soft[i, pred[i]] for i in idx]))
    pacc = float(np.mean([va_soft[i, prior[qt]] for i in idx]))
    print(f"  {qt:<10s} n={len(idx):4d} model {acc:.3f}  prior {pacc:.3f}")
print(f"total time {time.perf_counter() - t0:.1f}s")
