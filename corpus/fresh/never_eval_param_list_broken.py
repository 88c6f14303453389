"""makemore-style character MLP trained with a plain list of parameters and manual SGD.

Reproduces ml-explore/mlx#1711 ("Hanging when executing optimization loop more than once"):
the maintainer's answer is that the loop never evaluates the parameters, only the final print
does, so MLX builds the whole run as one lazy graph and the end looks like a hang.
"""

import random
import time

import mlx.core as mx

random.seed(42)
mx.random.seed(42)

WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "charlotte", "amelia",
         "harper", "evelyn", "abigail", "emily", "ella", "elizabeth", "camila", "luna"] * 40
chars = sorted(set("".join(WORDS)))
stoi = {c: i + 1 for i, c in enumerate(chars)}
stoi["."] = 0
V = len(stoi)
BLOCK = 3


def build(words):
    xs, ys = [], []
    for w in words:
        ctx = [0] * BLOCK
        for ch in w + ".":
            xs.append(list(ctx))
            ys.append(stoi[ch])
            ctx = ctx[1:] + [stoi[ch]]
    return mx.array(xs), mx.array(ys)


Xtr, Ytr = build(WORDS)
C = mx.random.normal((V, 10))
W1 = mx.random.normal((BLOCK * 10, 64)) * 0.2
b1 = mx.zeros((64,))
W2 = mx.random.normal((64, V)) * 0.05
b2 = mx.zeros((V,))
parameters = [C, W1, b1, W2, b2]


def loss_fn(C, W1, b1, W2, b2, X, Y):
    emb = C[X].reshape(X.shape[0], -1)
    h = mx.tanh(emb @ W1 + b1)
    logits = h @ W2 + b2
    return mx.mean(mx.logsumexp(logits, axis=-1) - mx.take_along_axis(logits, Y[:, None], -1)[:, 0])


loss_and_grad = mx.value_and_grad(loss_fn, argnums=(0, 1, 2, 3, 4))

start = time.time()
for i in range(12000):
    ix = mx.random.randint(0, Xtr.shape[0], (32,))
    loss, grad = loss_and_grad(*parameters, Xtr[ix], Ytr[ix])
    lr = 0.1 if i < 8000 else 0.01
    for pi, p in enumerate(parameters):
        p -= lr * grad[pi]
    if i % 1000 == 0:
        print(f"iter {i:6d} | {1000 / max(time.time() - start, 1e-9):10.0f} it/s", flush=True)
        start = time.time()

print(f"final loss {loss.item():.4f}")
