# Completion-only SFT on a toy "copy the header" task.
# Rows are tokenized as prompt + completion, truncated to MAX_LEN, and only
# completion tokens are supervised (prompt positions get label -100).
# Batches are built from length-sorted rows to keep padding small.
import logging
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s sft: %(message)s")
log = logging.getLogger()

random.seed(4)
mx.random.seed(0)

VOCAB, PAD, SEP, IGNORE = 40, 0, 1, -100
MAX_LEN, BATCH = 32, 16


def make_row():
    # a few prompts are very long (pasted documents); most are short
    n = random.randint(34, 44) if random.random() < 0.1 else random.randint(5, 20)
    prompt = [random.randint(2, VOCAB - 1) for _ in range(n)] + [SEP]
    completion = prompt[:4]  # answer: repeat the first four tokens
    ids = (prompt + completion)[:MAX_LEN]
    labels = ([IGNORE] * len(prompt) + completion)[:MAX_LEN]
    return ids, labels


rows = [make_row() for _ in range(480)]
rows = [r for r in rows if any(l != IGNORE for l in r[1])]
rows.sort(key=lambda r: len(r[0]))
batches = [rows[i:i + BATCH] for i in range(0, len(rows), BATCH)]
log.info("rows=%d batches=%d", len(rows), len(batches))


def collate(batch):
    L = max(len(ids) for ids, _ in batch)
    x = [ids + [PAD] * (L - len(ids)) for ids, _ in batch]
    y = [lab + [IGNORE] * (L - len(lab)) for _, lab in batch]
    x, y = mx.array(x), mx.array(y)
    # next-token targets
    return x[:, :-1], y[:, 1:]


class TinyLM(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dim)
        self.pos = nn.Embedding(MAX_LEN, dim)
        self.attn = nn.MultiHeadAttention(dim, 4)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.out = nn.Linear(dim, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = h + self.attn(h, h, h, mask)
        h = h + self.mlp(self.norm(h))
        return self.out(h)


def loss_fn(model, x, y):
    logits = model(x)
    valid = (y != IGNORE)
    ce = nn.losses.cross_entropy(logits, mx.where(valid, y, 0), reduction="none")
    return (ce * valid).sum() / valid.sum()


model = TinyLM()
opt = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, loss_fn)

step = 0
for epoch in range(6):
    order = list(range(len(batches)))
    random.shuffle(order)
    for bi in order:
        x, y = collate(batches[bi])
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step % 10 == 0:
            log.info("epoch %d step %d loss %.4f", epoch, step, loss.item())

# held-out: exact-match on the 4 answer tokens
hits = 0
for _ in range(200):
    n = random.randint(5, 20)
    prompt = [random.randint(2, VOCAB - 1) for _ in range(n)] + [SEP]
    seq = list(prompt)
    for _ in range(4):
        nxt = mx.argmax(model(mx.array([seq]))[0, -1]).item()
        seq.append(nxt)
    hits += seq[-4:] == prompt[:4]
log.info("held-out exact match %.3f", hits / 200)
