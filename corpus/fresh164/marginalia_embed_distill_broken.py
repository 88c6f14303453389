# Distil a frozen "teacher" sentence embedder into a small student MLP with a
# cosine-similarity loss, then check nearest-neighbour retrieval on held-out items.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N_TRAIN, N_TEST, D_IN, D_EMB = 2048, 1024, 48, 32

# teacher: fixed random nonlinear map; embedding magnitudes vary a lot per item
W1 = mx.random.normal((D_IN, 64)) / math.sqrt(D_IN)
W2 = mx.random.normal((64, D_EMB)) / 8.0
def teacher(x):
    scale = 0.2 + 3.0 * mx.random.uniform(shape=(x.shape[0], 1))
    return scale * (mx.tanh(x @ W1) @ W2)

X = mx.random.normal((N_TRAIN + N_TEST, D_IN))
Y = teacher(X)
Xtr, Ytr, Xte, Yte = X[:N_TRAIN], Y[:N_TRAIN], X[N_TRAIN:], Y[N_TRAIN:]


def cosine_similarity_loss(x1, x2, axis=1, eps=1e-8):
    x1_norm = mx.linalg.norm(x1, axis)
    x2_norm = mx.linalg.norm(x2, axis)
    return mx.sum(x1 * x2, axis) / mx.maximum(x1_norm * x2_norm, eps)


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D_IN, 96)
        self.l2 = nn.Linear(96, D_EMB)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


def loss_fn(model, x, y):
    return mx.mean(1.0 - cosine_similarity_loss(model(x), y))


def retrieval_at1(model):
    """R@1 and mean cosine to the teacher on held-out items."""
    s = model(Xte)
    s = s / mx.sqrt(mx.sum(s * s, axis=-1, keepdims=True))
    t = Yte / mx.sqrt(mx.sum(Yte * Yte, axis=-1, keepdims=True))
    hits = mx.argmax(s @ t.T, axis=1) == mx.arange(N_TEST)
    return mx.mean(hits.astype(mx.float32)).item(), mx.mean(mx.sum(s * t, axis=-1)).item()


model = Student()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
step = nn.value_and_grad(model, loss_fn)
BS = 128
for epoch in range(1, 16):
    perm = mx.random.permutation(N_TRAIN)
    tot = 0.0
    for i in range(0, N_TRAIN, BS):
        idx = perm[i:i + BS]
        loss, grads = step(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    r1, cos = retrieval_at1(model)
    print(f"epoch {epoch:02d} | distill loss {tot / (N_TRAIN // BS):.4f} | test cos {cos:.3f} | test R@1 {100 * r1:5.1f}%")
