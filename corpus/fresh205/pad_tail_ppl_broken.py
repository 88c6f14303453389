# Tiny next-token LM on synthetic "stride" documents, with a batched
# rolling-loglikelihood evaluator in the style of mlx_lm.evaluate.
import math
import random

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V = 16          # token 0 doubles as the pad id, 1..15 are content tokens
random.seed(3)
mx.random.seed(3)


def make_doc(n):
    step = random.randint(1, 4)
    x = random.randint(1, 15)
    out = [x]
    for _ in range(n - 1):
        x = (x - 1 + step) % 15 + 1
        out.append(x)
    return out


train_docs = [make_doc(random.randint(6, 18)) for _ in range(600)]
eval_docs = [make_doc(random.randint(6, 18)) for _ in range(96)]


class PairLM(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.mix = nn.Linear(2 * d, 64)
        self.out = nn.Linear(64, V)

    def __call__(self, x):
        e = self.emb(x)
        prev = mx.concatenate([mx.zeros_like(e[:, :1]), e[:, :-1]], axis=1)
        h = nn.gelu(self.mix(mx.concatenate([prev, e], axis=-1)))
        return self.out(h)


def _pad_inputs(inputs):
    lengths = np.array([len(x) for x in inputs])
    maxlen = lengths.max()
    padded = np.stack([np.pad(np.array(x), (0, maxlen - len(x))) for x in inputs], axis=0)
    return mx.array(padded), mx.array(lengths)


def score_batch(model, batch):
    inputs, lengths = _pad_inputs(batch)
    inputs, targets = inputs[..., :-1], inputs[..., 1:]
    logprobs = nn.log_softmax(model(inputs).astype(mx.float32))
    scores = mx.take_along_axis(logprobs, targets[..., None], axis=-1)[..., 0]
    return scores, lengths


def rolling_eval(model, docs, batch_size=16):
    total, ntok = 0.0, 0
    for i in range(0, len(docs), batch_size):
        batch = docs[i:i + batch_size]
        scores, lengths = score_batch(model, batch)
        mask = mx.arange(scores.shape[-1]) < lengths[:, None]
        total += (mask * scores).sum().item()
        ntok += sum(len(d) - 1 for d in batch)
    return -total / ntok


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = PairLM()
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)

# bucket training docs by length so training batches need no padding
buckets = {}
for d in train_docs:
    buckets.setdefault(len(d), []).append(d)

for epoch in range(1, 13):
    model.train()
    keys = list(buckets)
    random.shuffle(keys)
    losses = []
    for L in keys:
        docs = buckets[L]
        for j in range(0, len(docs), 16):
            arr = mx.array(docs[j:j + 16])
            loss, grads = step_fn(model, arr[:, :-1], arr[:, 1:])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
    model.eval()
    nll = rolling_eval(model, eval_docs)
    print(f"epoch {epoch:2d} | train nll {np.mean(losses):.4f} | eval nll {nll:.4f} | eval ppl {math.exp(nll):8.3f}")

nll1 = rolling_eval(model, eval_docs, batch_size=1)
nll16 = rolling_eval(model, eval_docs, batch_size=16)
print(f"final eval ppl  bs=1 {math.exp(nll1):.3f}  bs=16 {math.exp(nll16):.3f}")
