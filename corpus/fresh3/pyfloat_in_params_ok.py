"""Functional (JAX-style) contrastive embedding trainer: params live in a plain dict and are
updated by hand with tree_map."""
import mlx.core as mx
from mlx.utils import tree_map

mx.random.seed(4)
N, D, E = 256, 24, 16
anchors = mx.random.normal((N, D))
positives = anchors + 0.1 * mx.random.normal((N, D))

params = {
    "w": mx.random.normal((D, E)) * 0.2,
    "b": mx.zeros((E,)),
}
temperature = 0.1


def embed(p, x):
    z = x @ p["w"] + p["b"]
    return z / mx.linalg.norm(z, axis=1, keepdims=True)


def info_nce(p, a, b):
    logits = embed(p, a) @ embed(p, b).T / temperature
    labels = mx.arange(a.shape[0])
    logp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    return -mx.take_along_axis(logp, labels[:, None], axis=1).mean()


grad_fn = mx.value_and_grad(info_nce)
lr = 0.5
for step in range(200):
    idx = mx.random.permutation(N)[:64]
    loss, grads = grad_fn(params, anchors[idx], positives[idx])
    params = tree_map(lambda p, g: p - lr * g, params, grads)
    mx.eval(params)
    if step % 20 == 0:
        print(f"[{step:03d}] info_nce={loss.item():.4f}")
