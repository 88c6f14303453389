"""Clock-repair shop comment cards: binary sentiment (pleased / unhappy).

Cards are short word sequences built from a lexicon with negation ("not
accurate", "never late").  Model: nn.Embedding -> channels-last nn.Conv1d
(kernel 3, sees a negator next to a word) -> masked max pool -> Linear.

Training adds an embedding-space adversarial term (Miyato et al. style): the
gradient of the loss with respect to the word embeddings is taken with the
weights held constant, normalised per card, scaled to radius EPS and added to the
embeddings; the total loss is clean + adversarial.  The learning rate follows
cosine cycles with warm restarts (cycle lengths 60, 120, 240 steps), so the
training loss jumps at each restart before settling again.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
mx.random.seed(3)

POS = ["accurate", "punctual", "gleaming", "careful", "fair", "quiet", "smooth", "friendly"]
NEG = ["slow", "rattling", "scratched", "costly", "rude", "late", "cracked", "sloppy"]
NEGATORS = ["not", "never", "hardly"]
FILL = [f"f{i}" for i in range(70)]
vocab = ["<pad>"] + POS + NEG + NEGATORS + FILL
wid = {w: i for i, w in enumerate(vocab)}
V = len(vocab)
L = 14


def make_card():
    n = int(rng.integers(6, L + 1))
    words = list(rng.choice(FILL, size=n))
    score = 0
    slots = rng.choice(np.arange(1, n), size=int(rng.integers(1, 4)), replace=False)
    for j in slots:
        positive = rng.random() < 0.5
        words[j] = rng.choice(POS if positive else NEG)
        sign = 1 if positive else -1
        if rng.random() < 0.35:
            words[j - 1] = rng.choice(NEGATORS)
            sign = -sign
        score += sign
    if score == 0:
        return None
    ids = np.zeros(L, dtype=np.int32)
    ids[:n] = [wid[w] for w in words]
    return ids, int(score > 0)


def make_split(n):
    out = []
    while len(out) < n:
        c = make_card()
        if c is not None:
            out.append(c)
    xs, ys = zip(*out)
    return np.stack(xs), np.array(ys, dtype=np.int32)


Xtr, Ytr = make_split(1500)
Xva, Yva = make_split(1000)

# lexicon reference that ignores negators
lex = np.zeros(V)
for w in POS:
    lex[wid[w]] = 1
for w in NEG:
    lex[wid[w]] = -1
lex_pred = (lex[Xva].sum(axis=1) + 1e-3 * rng.standard_normal(len(Xva)) > 0).astype(int)
lex_acc = float((lex_pred == Yva).mean())


class CardNet(nn.Module):
    def __init__(self, vocab_size, emb=32, ch=48):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, emb)
        self.conv = nn.Conv1d(emb, ch, kernel_size=3, padding=1)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(ch, 2)

    def from_embeddings(self, e, mask):
        h = nn.gelu(self.conv(e))
        h = mx.where(mask[..., None] > 0, h, -1e4)
        return self.out(self.drop(h.max(axis=1)))

    def __call__(self, ids):
        return self.from_embeddings(self.emb(ids), (ids > 0).astype(mx.float32))


EPS = 0.3


def emb_loss(e, model, mask, y):
    return nn.losses.cross_entropy(model.from_embeddings(e, mask), y, reduction="mean")


emb_grad = mx.grad(emb_loss)


def total_loss(model, ids, y, r_adv):
    mask = (ids > 0).astype(mx.float32)
    e = model.emb(ids)
    clean = nn.losses.cross_entropy(model.from_embeddings(e, mask), y, reduction="mean")
    adv = nn.losses.cross_entropy(model.from_embeddings(e + r_adv, mask), y, reduction="mean")
    return clean + adv, (clean, adv)


def accuracy(model, X, Y):
    model.eval()
    pred = np.array(mx.argmax(model(mx.array(X)), axis=-1))
    model.train()
    return float((pred == Y).mean())


def sgdr(base, cycles):
    parts, bounds, acc = [], [], 0
    for c in cycles:
        parts.append(optim.cosine_decay(base, c, base * 0.02))
        acc += c
        bounds.append(acc)
    return optim.join_schedules(parts, bounds[:-1]), bounds


CYCLES = [60, 120, 240]
sched, restarts = sgdr(3e-3, CYCLES)
TOTAL = sum(CYCLES)
BATCH = 50

model = CardNet(V)
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=sched)
step_fn = nn.value_and_grad(model, total_loss)

print(f"cards train {len(Xtr)} val {len(Xva)}  vocab {V}  steps {TOTAL}  restarts after steps {restarts[:-1]}")
print(f"val reference: lexicon count without negation {lex_acc:.3f}, majority {max(Yva.mean(), 1 - Yva.mean()):.3f}")
t0 = time.time()
step = 0
perm = rng.permutation(len(Xtr))
pos = 0
while step < TOTAL:
    if pos + BATCH > len(Xtr):
        perm = rng.permutation(len(Xtr))
        pos = 0
    idx = perm[pos : pos + BATCH]
    pos += BATCH
    ids, y = mx.array(Xtr[idx]), mx.array(Ytr[idx])
    mask = (ids > 0).astype(mx.float32)
    e = mx.stop_gradient(model.emb(ids))
    g = emb_grad(e, model, mask, y)
    gn = mx.sqrt((g * g).sum(axis=(1, 2), keepdims=True)) + 1e-12
    r_adv = mx.stop_gradient(EPS * g / gn)
    (loss, (clean, adv)), grads = step_fn(model, ids, y, r_adv)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, clean, adv)
    step += 1
    if step % 20 == 0 or step in (1, 61, 62, 181, 182):
        print(f"step {step:3d}  lr {float(opt.learning_rate):.2e}  clean {clean.item():.4f}  adv {adv.item():.4f}  "
              f"adv-clean gap {adv.item() - clean.item():+.4f}")
    if step in restarts:
        print(f"-- end of cycle at step {step}: val_acc {accuracy(model, Xva, Yva):.3f} "
              f"(lexicon {lex_acc:.3f})")

print(f"final val_acc {accuracy(model, Xva, Yva):.3f}  lexicon {lex_acc:.3f}  time {time.time() - t0:.1f}s")
