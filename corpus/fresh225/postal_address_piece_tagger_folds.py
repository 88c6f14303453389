"""Tag the words of free-text postal addresses (house number, unit, street,
street type, town, postcode) with a tiny windowed (+-2 pieces) MLP tagger over sub-word pieces.

Words are cut into pieces of at most 3 characters; only the first piece of each
word carries the word's tag, the continuation pieces are ignored by the loss.
The piece vocabulary is rebuilt from the training folds every time.
3-fold cross-validation, early stopping on word accuracy, best weights restored.
"""
import logging
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("addr-tagger")

random.seed(5)
mx.random.seed(5)

TAGS = ["NUM", "UNIT", "STREET", "TYPE", "TOWN", "POST"]
T = {t: i for i, t in enumerate(TAGS)}
IGNORE = -1

NAMES = ["Baker", "Mill", "Church", "Kingston", "Victoria", "Station", "Hawthorn", "Orchard",
         "Queens", "Bridge", "Elm", "Chapel", "Market", "Windsor", "Newton", "Ashford",
         "Mulberry", "Priory", "Lark", "Willow"]
TYPES = ["Street", "St", "Road", "Rd", "Lane", "Ln", "Avenue", "Ave", "Close", "Way", "Crescent"]
TOWNS = ["Kingston", "Ashford", "Newton Abbot", "Bridgwater", "Windsor", "Market Harborough",
         "Lydney", "Thirsk", "Ely", "Bude", "Settle", "Hexham"]


def postcode():
    L = "ABCDEFGHJKLMNPRSTUVWXY"
    return (random.choice(L) + random.choice(L) + str(random.randint(1, 29)),
            str(random.randint(0, 9)) + random.choice(L) + random.choice(L))


def typo(w):
    if len(w) > 3 and random.random() < 0.12:
        i = random.randrange(len(w) - 1)
        w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    return w


def make_address():
    words, tags = [], []
    if random.random() < 0.3:
        words += ["Flat" if random.random() < 0.5 else "Apt", str(random.randint(1, 40)) + random.choice(["", "A", "B"])]
        tags += ["UNIT", "UNIT"]
    if random.random() < 0.85:
        words.append(str(random.randint(1, 399)))
        tags.append("NUM")
    for w in random.choice([[random.choice(NAMES)], random.sample(NAMES, 2)]):
        words.append(typo(w))
        tags.append("STREET")
    if random.random() < 0.7:
        words.append(random.choice(TYPES))
        tags.append("TYPE")
    town = [(typo(w), "TOWN") for w in random.choice(TOWNS + NAMES[:6]).split()]
    post = [(w, "POST") for w in postcode()]
    tail = town + post if random.random() < 0.8 else post + town
    words += [w for w, _ in tail]
    tags += [t for _, t in tail]
    case = random.random()
    if case < 0.2:
        words = [w.upper() for w in words]
    elif case < 0.35:
        words = [w.lower() for w in words]
    return words, [T[t] for t in tags]


def pieces_of(word):
    w = word.lower()
    return [w[i:i + 3] for i in range(0, len(w), 3)]


def shape_of(word):
    # 0 alpha, 1 digits, 2 mixed
    has_d = any(c.isdigit() for c in word)
    has_a = any(c.isalpha() for c in word)
    return 2 if (has_d and has_a) else (1 if has_d else 0)


def build_vocab(rows):
    vocab = {"<pad>": 0, "<unk>": 1}
    for words, _ in rows:
        for w in words:
            for p in pieces_of(w):
                vocab.setdefault(p, len(vocab))
    return vocab


MAXP = 24


def encode(rows, vocab):
    ids, shp, lab = [], [], []
    for words, tags in rows:
        i_row, s_row, l_row = [], [], []
        for w, t in zip(words, tags):
            ps = pieces_of(w)
            for k, p in enumerate(ps):
                i_row.append(vocab.get(p, 1))
                s_row.append(shape_of(w) + (3 if k > 0 else 0))
                l_row.append(t if k == 0 else IGNORE)
        i_row, s_row, l_row = i_row[:MAXP], s_row[:MAXP], l_row[:MAXP]
        padn = MAXP - len(i_row)
        ids.append(i_row + [0] * padn)
        shp.append(s_row + [0] * padn)
        lab.append(l_row + [IGNORE] * padn)
    return (mx.array(ids, dtype=mx.int32), mx.array(shp, dtype=mx.int32),
            mx.array(lab, dtype=mx.int32))


def window(h, radius=2):
    # concatenate each piece with its neighbours (zero beyond the edges)
    L = h.shape[1]
    hp = mx.pad(h, [(0, 0), (radius, radius), (0, 0)])
    return mx.concatenate([hp[:, k:k + L] for k in range(2 * radius + 1)], axis=-1)


class Tagger(nn.Module):
    def __init__(self, vocab_size, dim=32, width=48):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.shape = nn.Embedding(6, dim)
        self.l1 = nn.Linear(5 * dim, width)
        self.l2 = nn.Linear(5 * width, width)
        self.out = nn.Linear(width, len(TAGS))

    def __call__(self, ids, shp):
        h = self.emb(ids) + self.shape(shp)
        h = nn.gelu(self.l1(window(h)))
        h = h + nn.gelu(self.l2(window(h)))
        return self.out(h)


def masked_ce(model, ids, shp, lab):
    logits = model(ids, shp)
    keep = lab != IGNORE
    ce = nn.losses.cross_entropy(logits, mx.maximum(lab, 0), reduction="none")
    return (ce * keep).sum() / keep.sum()


def word_accuracy(model, ids, shp, lab):
    pred = mx.argmax(model(ids, shp), axis=-1)
    keep = lab != IGNORE
    return (((pred == lab) & keep).sum() / keep.sum()).item()


ROWS = [make_address() for _ in range(900)]
random.shuffle(ROWS)
K = 3
BATCH = 64
MAX_EPOCHS = 16
PATIENCE = 3

summary = []
for fold in range(K):
    val_rows = ROWS[fold::K]
    tr_rows = [r for i, r in enumerate(ROWS) if i % K != fold]
    vocab = build_vocab(tr_rows)
    tr = encode(tr_rows, vocab)
    va = encode(val_rows, vocab)
    unk_rate = (va[0] == 1).sum().item() / (va[0] != 0).sum().item()
    counts = [0] * len(TAGS)
    for _, tags in tr_rows:
        for t in tags:
            counts[t] += 1
    majority = max(range(len(TAGS)), key=lambda t: counts[t])
    keep = va[2] != IGNORE
    base_acc = (((va[2] == majority) & keep).sum() / keep.sum()).item()
    log.info("fold %d/%d: %d train / %d val addresses, %d pieces in vocab, val unk rate %.1f%%",
             fold + 1, K, len(tr_rows), len(val_rows), len(vocab), 100 * unk_rate)

    model = Tagger(len(vocab))
    opt = optim.Adam(learning_rate=2e-3)
    mx.eval(model.parameters())
    if fold == 0:
        _, g = nn.value_and_grad(model, masked_ce)(model, *[a[:BATCH] for a in tr])
        zero = [k for k, v in tree_flatten(g) if mx.abs(v).sum().item() == 0.0]
        log.info("gradient check: %d tensors, zero-gradient tensors: %s", len(tree_flatten(g)), zero or "none")

    state = [model.state, opt.state]

    def _step_impl(ids, shp, lab):
        loss, grads = nn.value_and_grad(model, masked_ce)(model, ids, shp, lab)
        opt.update(model, grads)
        return loss

    step = mx.compile(_step_impl, inputs=state, outputs=state)

    best_acc, best_epoch, best_params, bad = -1.0, -1, None, 0
    n = tr[0].shape[0]
    for epoch in range(1, MAX_EPOCHS + 1):
        perm = mx.array(random.sample(range(n), n))
        tot, nb = 0.0, 0
        for b in range(0, n - BATCH + 1, BATCH):
            idx = perm[b:b + BATCH]
            loss = step(tr[0][idx], tr[1][idx], tr[2][idx])
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        va_loss = masked_ce(model, *va).item()
        va_acc = word_accuracy(model, *va)
        mark = ""
        if va_acc > best_acc:
            best_acc, best_epoch, bad = va_acc, epoch, 0
            best_params = tree_map(lambda x: mx.array(x), model.parameters())
            mx.eval(best_params)
            mark = " *"
        else:
            bad += 1
        log.info("fold %d epoch %02d  train_ce %.4f  val_ce %.4f  val_word_acc %.2f%%  (majority-tag %.2f%%)%s",
                 fold + 1, epoch, tot / nb, va_loss, 100 * va_acc, 100 * base_acc, mark)
        if bad >= PATIENCE:
            log.warning("fold %d: no val improvement for %d epochs, stopping at epoch %d", fold + 1, PATIENCE, epoch)
            break
    last_acc = word_accuracy(model, *va)
    model.update(best_params)
    mx.eval(model.parameters())
    restored = word_accuracy(model, *va)
    log.info("fold %d: restored epoch %d weights, val_word_acc %.2f%% -> %.2f%%",
             fold + 1, best_epoch, 100 * last_acc, 100 * restored)
    summary.append((fold + 1, best_epoch, epoch, restored, base_acc))

print()
print("fold | best_ep | stopped | val_word_acc | majority_baseline")
print("-----+---------+---------+--------------+------------------")
for f, be, se, acc, base in summary:
    print(f"{f:4d} | {be:7d} | {se:7d} | {100 * acc:11.2f}% | {100 * base:16.2f}%")
mean_acc = sum(s[3] for s in summary) / K
print(f"mean | {'':7s} | {'':7s} | {100 * mean_acc:11.2f}% | {100 * sum(s[4] for s in summary) / K:16.2f}%")
