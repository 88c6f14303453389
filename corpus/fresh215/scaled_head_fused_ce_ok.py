# Tiny Cohere-style char LM (tied embeddings, logits multiplied by a logit_scale).
# Training uses a memory-saving "fused" chunked cross-entropy computed straight from the
# hidden states and the tied embedding matrix, so full (tokens x vocab) logits never exist.
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, CTX, DIM = 24, 4, 64
LOGIT_SCALE = 0.0625          # as in Cohere configs: logits = (h @ E^T) * logit_scale
rng = np.random.default_rng(930)

# synthetic text: each token has 2 likely successors (order-1 Markov source)
succ = np.stack([rng.permutation(VOCAB)[:2] for _ in range(VOCAB)])


def make_stream(n):
    out = [int(rng.integers(VOCAB))]
    for _ in range(n - 1):
        a, b = succ[out[-1]]
        r = rng.random()
        out.append(int(a) if r < 0.75 else int(b) if r < 0.95 else int(rng.integers(VOCAB)))
    return np.array(out, dtype=np.int32)


def windows(s):
    X = np.stack([s[i:len(s) - CTX + i] for i in range(CTX)], 1)
    return mx.array(X), mx.array(s[CTX:])


Xtr, ytr = windows(make_stream(20000))
Xva, yva = windows(make_stream(4000))


class ScaledHeadLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.mix = nn.Linear(CTX * DIM, DIM)
        self.norm = nn.LayerNorm(DIM)

    def hidden(self, x):
        e = self.embed(x).reshape(x.shape[0], CTX * DIM)
        return self.norm(nn.gelu(self.mix(e)))

    def __call__(self, x):
        return self.embed.as_linear(self.hidden(x)) * LOGIT_SCALE


def fused_ce(model, x, y, chunk=256):
    h = model.hidden(x)
    W = model.embed.weight
    total = mx.array(0.0)
    for s in range(0, h.shape[0], chunk):
        z = (h[s:s + chunk] @ W.T) * LOGIT_SCALE
        total = total + nn.losses.cross_entropy(z, y[s:s + chunk], reduction="sum")
    return total / h.shape[0]


mx.random.seed(930)
model = ScaledHeadLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
step_fn = nn.value_and_grad(model, fused_ce)

n = Xtr.shape[0]
t0 = time.time()
print(f"uniform-guess ce = {np.log(VOCAB):.3f} nats")
for epoch in range(1, 9):
    perm = mx.array(rng.permutation(n))
    tot, k = 0.0, 0
    for s in range(0, n - 511, 512):
        idx = perm[s:s + 512]
        loss, grads = step_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        tot += loss.item()
        k += 1
    logits = model(Xva)
    val_ce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, -1) == yva).item()
    print(f"epoch {epoch}  train_ce(fused) {tot / k:.4f}  val_ce(forward) {val_ce:.4f}  "
          f"val_top1 {acc:.3f}  {time.time() - t0:.1f}s")
