"""Lookahead(k=6, alpha=0.5) around plain SGD on a small classifier.
Every k fast steps the slow weights move half-way towards the fast weights and
the fast weights are reset to them, so the per-step loss is a saw-tooth."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(3)

N, D, C = 1200, 10, 4
centers = mx.random.normal((C, D)) * 1.6
labels = mx.random.randint(0, C, (N,))
feats = centers[labels] + mx.random.normal((N, D))

model = nn.Sequential(nn.Linear(D, 48), nn.Tanh(), nn.Linear(48, C))
mx.eval(model.parameters())
inner = optim.SGD(learning_rate=0.25)
K, ALPHA = 6, 0.5
slow = tree_map(lambda p: mx.array(p), model.parameters())


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)
BS = 60
step = 0
for epoch in range(12):
    perm = mx.random.permutation(N)
    tot, nb = 0.0, 0
    for i in range(0, N, BS):
        idx = perm[i:i + BS]
        loss, grads = grad_fn(model, feats[idx], labels[idx])
        inner.update(model, grads)
        step += 1
        if step % K == 0:
            slow = tree_map(lambda s, f: s + ALPHA * (f - s), slow, model.parameters())
            model.update(tree_map(lambda s: mx.array(s), slow))
        mx.eval(model.parameters(), inner.state, slow, loss)
        tot += loss.item()
        nb += 1
    acc = (mx.argmax(model(feats), axis=1) == labels).mean().item()
    print(f"epoch {epoch:2d} | fast-loss {tot / nb:.4f} | slow-weights acc {acc:.3f} | syncs {step // K}")
