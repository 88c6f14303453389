# Tiny BERT-style masked-LM trained with a compiled step on padded batches.
import json
import math
import random
import time
from functools import partial
from typing import Optional

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
mx.random.seed(0)
VOCAB, PAD, MASK, MAXLEN, D = 48, 0, 1, 16, 32


def create_padding_mask(attention_mask: Optional[mx.array]) -> Optional[mx.array]:
    """(B, T) 1/0 mask -> (B, 1, 1, T) additive mask, None when nothing is padded."""
    if attention_mask is None:
        return None
    if attention_mask.min().item() == 1:
        return None
    mask = (1.0 - attention_mask.astype(mx.float32)) * -1e9
    return mask[:, None, None, :]


class EncoderLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        B, T, Dm = x.shape
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        sh = lambda a: a.reshape(B, T, self.heads, -1).transpose(0, 2, 1, 3)
        q, k, v = sh(q), sh(k), sh(v)
        att = mx.fast.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(Dm // self.heads), mask=mask)
        x = x + self.proj(att.transpose(0, 2, 1, 3).reshape(B, T, Dm))
        return x + self.ff(self.ln2(x))


class TinyBert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(MAXLEN, D)
        self.layers = [EncoderLayer(D, 2) for _ in range(2)]
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB)

    def __call__(self, ids, attention_mask=None):
        x = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        mask = create_padding_mask(attention_mask) if attention_mask is not None else None
        for layer in self.layers:
            x = layer(x, mask)
        return self.head(self.norm(x))


def sentence():
    # toy "language": arithmetic runs over tokens 2..47 with a per-sentence stride
    n = random.randint(6, MAXLEN)
    start, stride = random.randint(2, VOCAB - 1), random.choice([1, 2, 3])
    return [2 + (start - 2 + i * stride) % (VOCAB - 2) for i in range(n)]


def make_batch(bs=32):
    sents = [sentence() for _ in range(bs)]
    T = MAXLEN  # pad every batch to the fixed context length
    ids = [s + [PAD] * (T - len(s)) for s in sents]
    att = [[1] * len(s) + [0] * (T - len(s)) for s in sents]
    ids, att = mx.array(ids), mx.array(att)
    # dynamic masking: 15% of real tokens
    pick = (mx.random.uniform(shape=ids.shape) < 0.15) & (att == 1)
    inputs = mx.where(pick, MASK, ids)
    return inputs, ids, att, pick


model = TinyBert()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)


def loss_fn(model, inputs, labels, att, pick):
    logits = model(inputs, attention_mask=att)
    ce = nn.losses.cross_entropy(logits, labels, reduction="none")
    w = pick.astype(mx.float32)
    return (ce * w).sum() / mx.maximum(w.sum(), 1.0)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(inputs, labels, att, pick):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, inputs, labels, att, pick)
    opt.update(model, grads)
    return loss


t0 = time.time()
hist = []
for it in range(1, 221):
    inputs, labels, att, pick = make_batch()
    loss = train_step(inputs, labels, att, pick)
    mx.eval(state)
    hist.append(loss.item())
    if it % 20 == 0:
        print(json.dumps({"iter": it, "mlm_loss": round(sum(hist) / len(hist), 4),
                          "elapsed_s": round(time.time() - t0, 2)}), flush=True)
        hist = []
