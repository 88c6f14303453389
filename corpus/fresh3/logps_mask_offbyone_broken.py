"""Preference-style fine-tune helper: score only the marked answer token of each sequence.

Each row is random tokens; the answer token (marked in `mask`, aligned with `tokens`)
repeats the token before it,
which a bigram model learns quickly. The token after the answer is random noise.
"""
import json

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, L, B = 64, 12, 32


def make_batch(key):
    k1, k2 = mx.random.split(key)
    toks = mx.random.randint(1, V, (B, L), key=k1)
    pos = mx.random.randint(2, L - 2, (B,), key=k2)
    cols = mx.arange(L)[None, :]
    prev = mx.take_along_axis(toks, (pos - 1)[:, None], axis=1)
    toks = mx.where(cols == pos[:, None], prev, toks)
    mask = (cols == pos[:, None]).astype(mx.float32)
    return toks, mask


class Bigram(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 48)
        self.proj = nn.Linear(48, V)

    def __call__(self, x):
        return self.proj(nn.silu(self.emb(x)))


def get_logps(model, tokens, mask):
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logp = nn.log_softmax(model(inputs), axis=-1)
    tok_logp = mx.take_along_axis(logp, targets[..., None], axis=-1).squeeze(-1)
    m = mask[:, :-1]
    return (tok_logp * m).sum(-1) / m.sum(-1)


def loss_fn(model, tokens, mask):
    return -get_logps(model, tokens, mask).mean()


model = Bigram()
opt = optim.AdamW(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)
key = mx.random.key(0)
for it in range(1, 601):
    key, sub = mx.random.split(key)
    tokens, mask = make_batch(sub)
    loss, grads = step_fn(model, tokens, mask)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        print(json.dumps({"iter": it, "nll": round(loss.item(), 4),
                          "answer_prob": round(float(mx.exp(-loss).item()), 4)}))
