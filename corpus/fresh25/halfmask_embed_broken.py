"""Fine-tune a tiny sentence-embedding encoder (half-precision activations) for
keyword detection. Padded batches use an additive attention mask."""
import logging
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("embed-ft")

VOCAB, DIM, MAXLEN, PAD = 24, 32, 12, 0
KEY_TOKEN = 5

rng = random.Random(3)


def make_example():
    n = rng.randint(3, MAXLEN)
    toks = [rng.randint(1, VOCAB - 1) for _ in range(n)]
    if KEY_TOKEN in toks:
        toks = [t if t != KEY_TOKEN else 6 for t in toks]
    label = rng.random() < 0.5
    if label:
        toks[rng.randrange(n)] = KEY_TOKEN
    if rng.random() < 0.08:  # annotator noise
        label = not label
    return toks, int(label)


def batchify(examples):
    ids = [t + [PAD] * (MAXLEN - len(t)) for t, _ in examples]
    att = [[1] * len(t) + [0] * (MAXLEN - len(t)) for t, _ in examples]
    y = [l for _, l in examples]
    return mx.array(ids), mx.array(att), mx.array(y)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 2 * d)
        self.ff2 = nn.Linear(2 * d, d)

    def __call__(self, h, mask):
        q, k, v = mx.split(self.qkv(self.ln1(h)), 3, axis=-1)
        scores = (q @ k.transpose(0, 2, 1)) / (q.shape[-1] ** 0.5)
        scores = scores + mask
        h = h + self.out(mx.softmax(scores, axis=-1) @ v)
        h = h + self.ff2(nn.gelu(self.ff1(self.ln2(h))))
        return h


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.blocks = [Block(DIM), Block(DIM)]
        self.head = nn.Linear(DIM, 2)

    def __call__(self, ids, attention_mask):
        h = self.emb(ids).astype(mx.float16)  # half-precision activations
        mask = (1.0 - attention_mask[:, None, :].astype(h.dtype)) * -1e9
        for blk in self.blocks:
            h = blk(h, mask)
        m = attention_mask[..., None].astype(h.dtype)
        pooled = (h * m).sum(axis=1) / m.sum(axis=1)
        return self.head(pooled)


def loss_fn(model, ids, att, y):
    logits = model(ids, att).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


model = Encoder()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-4, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

val = batchify([make_example() for _ in range(256)])

t0 = time.time()
for step in range(1, 401):
    ids, att, y = batchify([make_example() for _ in range(32)])
    loss, grads = step_fn(model, ids, att, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 40 == 0:
        logits = model(val[0], val[1])
        acc = (logits.argmax(axis=-1) == val[2]).astype(mx.float32).mean().item()
        log.info("step=%d loss=%.4f val_acc=%.3f elapsed=%.1fs", step, loss.item(), acc, time.time() - t0)
log.info("done")
