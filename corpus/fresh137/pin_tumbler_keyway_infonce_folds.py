"""Match key bittings to the locks they open with a two-tower InfoNCE model.

A key is 5 cut depths (0..7) read bow-to-tip.  A lock is seen from the back
of the cylinder: its 5 driver-pin lengths (stack height 9 minus the key pin)
in tip-to-bow order, and a locksmith's scan gets ~8% of chambers wrong.
4-fold cross-validation over key codes; every fold restarts the towers, the
optimizer and the step counter.  Logs are JSON lines.
"""
import json
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(5)
mx.random.seed(5)

N_CODES = 2400
codes = [[random.randint(0, 7) for _ in range(5)] for _ in range(N_CODES)]


def lock_view(code):
    drivers = [9 - c for c in reversed(code)]
    return [random.randint(2, 9) if random.random() < 0.08 else d for d in drivers]


@mx.custom_function
def unit_norm(x):
    return x / mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-6)


@unit_norm.vjp
def unit_norm_vjp(primals, cotangent, output):
    x = primals
    n = mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-6)
    g = cotangent
    return (g - output * mx.sum(g * output, axis=-1, keepdims=True)) / n


class Tower(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.tok = nn.Embedding(vocab, 16)
        self.pos = nn.Embedding(5, 16)
        self.mlp = nn.Sequential(nn.Linear(80, 96), nn.GELU(), nn.Linear(96, 32))

    def __call__(self, ids):
        h = self.tok(ids) + self.pos(mx.arange(5))
        return unit_norm(self.mlp(h.reshape(ids.shape[0], -1)))


class Matcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.key = Tower(8)
        self.lock = Tower(10)

    def __call__(self, k, l):
        return self.key(k) @ self.lock(l).T / 0.1


def info_nce(model, k, l):
    logits = model(k, l)
    tgt = mx.arange(k.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, tgt, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, tgt, reduction="mean"))


def retrieval(model, k, l):
    sims = model(k, l)
    correct = mx.diagonal(sims)
    rank = mx.sum(sims > correct[:, None], axis=1) + 1
    return (mx.mean(rank == 1) * 100).item(), mx.mean(rank.astype(mx.float32)).item()


# audit the hand-written VJP against autodiff once
probe = mx.random.normal((4, 7))
cot = mx.random.normal((4, 7))
_, (mine,) = mx.vjp(unit_norm, [probe], [cot])
_, (ref,) = mx.vjp(lambda z: z / mx.sqrt(mx.sum(z * z, axis=-1, keepdims=True) + 1e-6), [probe], [cot])
print(json.dumps({"audit": "unit_norm_vjp", "max_abs_diff": float(mx.max(mx.abs(mine - ref)).item())}))

K_FOLDS, STEPS, BATCH = 4, 220, 96
order = list(range(N_CODES))
random.shuffle(order)
fold_size = N_CODES // K_FOLDS
t0 = time.time()
summary = []
for fold in range(K_FOLDS):
    held = set(order[fold * fold_size:(fold + 1) * fold_size])
    tr = [i for i in range(N_CODES) if i not in held]
    va = sorted(held)[:256]
    va_k = mx.array([codes[i] for i in va])
    va_l = mx.array([lock_view(codes[i]) for i in va])

    model = Matcher()
    opt = optim.SGD(learning_rate=0.3, momentum=0.9, nesterov=True)
    step_fn = nn.value_and_grad(model, info_nce)
    mx.eval(model.parameters())
    for step in range(STEPS):
        pick = random.sample(tr, BATCH)
        kb = mx.array([codes[i] for i in pick])
        lb = mx.array([lock_view(codes[i]) for i in pick])
        loss, grads = step_fn(model, kb, lb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == STEPS - 1:
            top1, mrank = retrieval(model, va_k, va_l)
            print(json.dumps({"fold": fold, "step": step, "nce": round(loss.item(), 4),
                              "top1_pct": round(top1, 1), "mean_rank": round(mrank, 2)}))
    summary.append(top1)
print(json.dumps({"cv_top1_pct": [round(s, 1) for s in summary],
                  "chance_pct": round(100 / 256, 2), "seconds": round(time.time() - t0, 1)}))
