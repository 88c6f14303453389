"""Generator MLP trained with the sliced Wasserstein-2 distance (random 1-D projections,
sorted-sample matching) to push 2-D Gaussian noise onto a ring of 8 blobs."""
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
K = 8
CENTERS = mx.array([[2.0 * math.cos(2 * math.pi * k / K), 2.0 * math.sin(2 * math.pi * k / K)] for k in range(K)])

def real_batch(n):
    idx = mx.random.randint(0, K, (n,))
    return CENTERS[idx] + 0.08 * mx.random.normal((n, 2))

gen = nn.Sequential(nn.Linear(4, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 2))

def sliced_w2(x, y, n_proj=64):
    theta = mx.random.normal((2, n_proj))
    theta = theta / mx.linalg.norm(theta, axis=0, keepdims=True)
    px = mx.sort(x @ theta, axis=0)
    py = mx.sort(y @ theta, axis=0)
    return mx.mean((px - py) ** 2)

def loss_fn(model, z, y):
    return sliced_w2(model(z), y)

opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 2000, end=2e-4))
step = nn.value_and_grad(gen, loss_fn)

def coverage(n=2000):
    x = gen(mx.random.normal((n, 4)))
    d = mx.linalg.norm(x[:, None, :] - CENTERS[None], axis=-1)
    near = mx.min(d, axis=1) < 0.4
    which = mx.argmin(d, axis=1)
    hit = [int(mx.sum(near & (which == k)).item()) for k in range(K)]
    return float(mx.mean(near).item()), sum(h > 0.04 * n / K for h in hit)

prev = None
t0 = time.time()
window = []
for it in range(1, 2001):
    z = mx.random.normal((256, 4))
    loss, g = step(gen, z, real_batch(256))
    opt.update(gen, g)
    mx.eval(gen.parameters(), opt.state, loss)
    window.append(loss.item())
    if it % 200 == 0:
        held = sliced_w2(gen(mx.random.normal((1024, 4))), real_batch(1024), n_proj=256).item()
        arrow = " " if prev is None else ("↓" if held < prev else "↑")
        prev = held
        frac, modes = coverage()
        print(f"[SW] it {it:04d} | batch sw {sum(window)/len(window):.4f} | held-out sw {held:.4f} {arrow} "
              f"| near-mode {frac:5.1%} | modes {modes}/{K} | {time.time()-t0:4.1f}s")
        window = []
