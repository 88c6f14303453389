"""MAML on sine-wave regression (second-order: the meta-gradient differentiates
through one inner SGD step).  Each meta-iteration samples new tasks, so the meta
loss is noisy; the post-adaptation loss on held-out tasks is the real metric."""
import math
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(1)
random.seed(1)
H = 40


def init():
    return {"w1": mx.random.normal((1, H)), "b1": mx.zeros((H,)),
            "w2": mx.random.normal((H, H)) / math.sqrt(H), "b2": mx.zeros((H,)),
            "w3": mx.random.normal((H, 1)) / math.sqrt(H), "b3": mx.zeros((1,))}


def net(p, x):
    h = nn.relu(x @ p["w1"] + p["b1"])
    h = nn.relu(h @ p["w2"] + p["b2"])
    return h @ p["w3"] + p["b3"]


def mse(p, x, y):
    return ((net(p, x) - y) ** 2).mean()


INNER_LR, K, META_BS = 0.01, 10, 6


def sample_task():
    amp, phase = random.uniform(0.1, 5.0), random.uniform(0.0, math.pi)
    def draw(n):
        x = mx.random.uniform(-5.0, 5.0, (n, 1))
        return x, amp * mx.sin(x + phase)
    return draw


def adapted(p, xs, ys):
    g = mx.grad(mse)(p, xs, ys)
    return tree_map(lambda a, b: a - INNER_LR * b, p, g)


def meta_loss(p, tasks):
    tot = 0.0
    for xs, ys, xq, yq in tasks:
        tot = tot + mse(adapted(p, xs, ys), xq, yq)
    return tot / len(tasks)


meta_grad = mx.value_and_grad(meta_loss)
opt = optim.Adam(learning_rate=1e-3)
params = init()
opt.init(params)

eval_tasks = []
for _ in range(20):
    d = sample_task()
    eval_tasks.append((*d(K), *d(100)))
mx.eval(eval_tasks)

for it in range(1, 1501):
    tasks = []
    for _ in range(META_BS):
        d = sample_task()
        tasks.append((*d(K), *d(K)))
    loss, g = meta_grad(params, tasks)
    params = opt.apply_gradients(g, params)
    mx.eval(params, opt.state, loss)
    if it % 150 == 0:
        post = meta_loss(params, eval_tasks).item()
        print(f"meta-iter {it:4d}  meta_loss={loss.item():7.3f}  heldout_post_adapt_mse={post:6.3f}")
