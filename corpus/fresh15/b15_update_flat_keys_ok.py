"""Hand-written SGD with weight decay on a tiny autoencoder: gradients are flattened to
'a.b.c' keys so per-parameter rules are easy to write, then written back with model.update."""
import time
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(4)
Z = mx.random.normal((1024, 3))
X = mx.concatenate([Z, mx.sin(Z), Z[:, :1] * Z[:, 1:2]], axis=1)   # 7-D data on a 3-D manifold

model = nn.Sequential(nn.Linear(7, 16), nn.Tanh(), nn.Linear(16, 3),
                      nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 7))
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, lambda m, x: mx.mean((m(x) - x) ** 2))

LR, WD = 0.05, 1e-4
t0 = time.time()
step = 0
while step < 1500:
    idx = mx.random.randint(0, 1024, (64,))
    loss, grads = loss_and_grad(model, X[idx])
    params = dict(tree_flatten(model.parameters()))
    new = {}
    for k, g in tree_flatten(grads):
        decay = 0.0 if k.endswith("bias") else WD
        new[k] = params[k] - LR * (g + decay * params[k])
    model.update(tree_unflatten(list(new.items())))
    mx.eval(model.parameters(), loss)
    step += 1
    if step % 250 == 0:
        print(f"step={step} recon_err={loss.item():.5f} t={time.time() - t0:.1f}s")
