# Token-classification (PII tagging) fine-tune on a tiny synthetic corpus.
# Labels padded with -100 are ignored in the loss.
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
np.random.seed(3)
mx.random.seed(3)

LABELS = ["O", "B-NAME", "I-NAME", "B-PHONE", "B-EMAIL"]
label2id = {l: i for i, l in enumerate(LABELS)}
FIRST = ["anna", "boris", "chen", "dara", "emil", "fatima", "gus", "hana"]
LAST = ["kowal", "lee", "moreau", "ng", "ortiz", "patel"]
FILLER = ["please", "call", "write", "to", "at", "the", "office", "today", "or", "my", "number", "is", "mail", "contact"]
vocab = ["<pad>"] + FIRST + LAST + FILLER + ["<phone>", "<email>"]
tok2id = {w: i for i, w in enumerate(vocab)}
MAXLEN = 12


def make_sentence():
    words, tags = [], []
    for _ in range(random.randint(4, 9)):
        r = random.random()
        if r < 0.18:
            words += [random.choice(FIRST), random.choice(LAST)]
            tags += ["B-NAME", "I-NAME"]
        elif r < 0.26:
            words.append("<phone>"); tags.append("B-PHONE")
        elif r < 0.33:
            words.append("<email>"); tags.append("B-EMAIL")
        else:
            words.append(random.choice(FILLER + LAST)); tags.append("O")
    words, tags = words[:MAXLEN], tags[:MAXLEN]
    ids = [tok2id[w] for w in words] + [0] * (MAXLEN - len(words))
    labs = [label2id[t] for t in tags] + [-100] * (MAXLEN - len(tags))
    return ids, labs


def make_split(n):
    rows = [make_sentence() for _ in range(n)]
    return np.array([r[0] for r in rows], dtype=np.int32), np.array([r[1] for r in rows], dtype=np.int32)


train_x, train_y = make_split(640)
val_x, val_y = make_split(160)


class TokenTagger(nn.Module):
    def __init__(self, vocab_size, dim, num_labels):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.conv = nn.Conv1d(dim, dim, kernel_size=3, padding=1)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(dim, num_labels)

    def __call__(self, x):
        h = self.embed(x)
        h = nn.gelu(self.conv(h)) + h
        h = self.dropout(h)
        return self.classifier(h)


def compute_loss(logits, y):
    logits = np.array(logits)
    y = np.array(y)
    mask = y != -100
    loss = nn.losses.cross_entropy(mx.array(logits[mask]), mx.array(y[mask]), reduction="mean")
    return loss


def loss_function(model, x, y):
    return compute_loss(model(x), y)


def entity_f1(model, x, y):
    logits = np.array(model(mx.array(x)))
    pred = logits.argmax(-1)
    valid = y != -100
    p, t = pred[valid], y[valid]
    tp = np.sum((p == t) & (t != 0))
    fp = np.sum((p != t) & (p != 0))
    fn = np.sum((p != t) & (t != 0))
    return 2 * tp / max(1, 2 * tp + fp + fn)


model = TokenTagger(len(vocab), 16, len(LABELS))
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=4e-4)
loss_and_grad_fn = nn.value_and_grad(model, loss_function)

batch_size = 32
tic = time.perf_counter()
for epoch in range(12):
    model.train()
    perm = np.random.permutation(len(train_x))
    total, nb = 0.0, 0
    for i in range(0, len(perm), batch_size):
        idx = perm[i:i + batch_size]
        loss, grads = loss_and_grad_fn(model, mx.array(train_x[idx]), mx.array(train_y[idx]))
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        total += loss.item(); nb += 1
    model.eval()
    val_loss = loss_function(model, mx.array(val_x), mx.array(val_y)).item()
    f1 = entity_f1(model, val_x, val_y)
    print(f"Epoch {epoch}: train_loss={total / nb:.4f} val_loss={val_loss:.4f} entity_f1={f1 * 100:.1f}%")
print(f"done in {time.perf_counter() - tic:.1f}s")
