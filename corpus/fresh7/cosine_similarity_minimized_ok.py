"""Cross-modal retrieval: project query features into a fixed key-embedding space (MLX)."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(8)
DQ, DK, N = 40, 16, 4000
M = rng.normal(0, 1, (DQ, DK)).astype(np.float32)
Q = rng.normal(0, 1, (N, DQ)).astype(np.float32)
K = np.tanh(Q @ M / 4.0) + 0.05 * rng.normal(0, 1, (N, DK)).astype(np.float32)
Q, K = mx.array(Q), mx.array(K.astype(np.float32))
Qv, Kv = Q[-500:], K[-500:]
Q, K = Q[:-500], K[:-500]

mx.random.seed(0)
proj = nn.Sequential(nn.Linear(DQ, 64), nn.GELU(), nn.Linear(64, DK))
mx.eval(proj.parameters())


def loss_fn(model, q, k):
    return 1.0 - nn.losses.cosine_similarity_loss(model(q), k, axis=1, reduction="mean")


def recall_at_1(model, q, k):
    a = model(q)
    a = a / mx.linalg.norm(a, axis=1, keepdims=True)
    b = k / mx.linalg.norm(k, axis=1, keepdims=True)
    return mx.mean(mx.argmax(a @ b.T, axis=1) == mx.arange(q.shape[0])).item()


opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(proj, loss_fn)
print(f"step     0 | cos_loss=  n/a   | recall@1={recall_at_1(proj, Qv, Kv):.3f}")
for step in range(1, 1501):
    idx = mx.array(rng.integers(0, Q.shape[0], 128))
    loss, grads = vg(proj, Q[idx], K[idx])
    opt.update(proj, grads)
    mx.eval(proj.parameters(), opt.state)
    if step % 150 == 0:
        print(f"step {step:5d} | cos_loss={loss.item():+.4f} | recall@1={recall_at_1(proj, Qv, Kv):.3f}")
