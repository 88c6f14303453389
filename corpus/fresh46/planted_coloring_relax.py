"""Differentiable 3-colouring of a random graph with a planted 3-colouring.

One raw logits array (nodes x 3) is optimised: loss = expected number of
monochromatic edges under independent softmax colour distributions, plus an
annealed entropy term that pushes each node towards a single colour.
AdamW's weight decay keeps the logits bounded.  Reports go to a
fixed-width table; the final colouring is printed as a string.
"""
import math
import random
import time

import mlx.core as mx
import mlx.optimizers as optim

N, K, AVG_DEG = 2000, 3, 5.0
rng = random.Random(11)
planted = [rng.randrange(K) for _ in range(N)]
edges = set()
p_edge = AVG_DEG / (N * (K - 1) / K)
for i in range(N):
    for j in range(i + 1, N):
        if planted[i] != planted[j] and rng.random() < p_edge:
            edges.add((i, j))
edges = sorted(edges)
src = mx.array([e[0] for e in edges])
dst = mx.array([e[1] for e in edges])
E = len(edges)

mx.random.seed(3)
params = {"logits": mx.random.normal((N, K)) * 0.1}


def objective(p, beta):
    prob = mx.softmax(p["logits"], axis=1)
    clash = mx.sum(prob[src] * prob[dst], axis=1)          # P(same colour) per edge
    ent = -mx.sum(prob * mx.log(prob + 1e-9), axis=1)
    return mx.sum(clash) + beta * mx.sum(ent), (mx.sum(clash), mx.mean(ent))


def hard_conflicts(p):
    c = mx.argmax(p["logits"], axis=1)
    return int(mx.sum(c[src] == c[dst]).item())


grad_fn = mx.value_and_grad(lambda p, b: objective(p, b)[0])
opt = optim.AdamW(learning_rate=0.01, weight_decay=0.1)

_, g0 = grad_fn(params, 0.0)
nz = float(mx.abs(g0["logits"]).max())
print(f"nodes={N} edges={E} leaves=1 first-step max|grad|={nz:.3e} ({'ok' if nz > 0 else 'ZERO'})")
print(f"random 3-colouring expects ~{E/3:.1f} conflicting edges")
print(f"{'step':>5} {'beta':>6} {'E[clash]':>9} {'hard':>5} {'mean H':>7} {'|logit|max':>10} {'sec':>5}")

steps = 4500
t0 = time.time()
for step in range(steps + 1):
    beta = -0.6 + 0.9 * min(1.0, step / 2000)          # deterministic annealing: entropy bonus -> penalty
    if step % 450 == 0:
        _, (clash, ment) = objective(params, beta)
        print(f"{step:>5} {beta:>+6.3f} {clash.item():>9.3f} {hard_conflicts(params):>5d} "
              f"{ment.item():>7.3f} {float(mx.abs(params['logits']).max()):>10.3f} {time.time()-t0:>5.1f}")
    if step == steps:
        break
    loss, g = grad_fn(params, beta)
    params = opt.apply_gradients(g, params)
    mx.eval(params, opt.state)

colors = mx.argmax(params["logits"], axis=1).tolist()
print("colouring (first 100 nodes):", "".join("RGB"[c] for c in colors[:100]))
# compare with the planted partition up to a permutation of colour names
best = 0
for perm in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]:
    best = max(best, sum(perm[c] == t for c, t in zip(colors, planted)))
print(f"final hard conflicts {hard_conflicts(params)} / {E}; "
      f"agreement with planted colouring {best/N:.2f} (best colour relabelling; other near-valid colourings exist)")
