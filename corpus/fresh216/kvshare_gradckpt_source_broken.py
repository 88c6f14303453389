# Tiny "KV-shared" decoder trained with gradient checkpointing (trainer default).
# Layer 0 produces K/V that the later (shared) layer attends over, like gemma3n's
# KV sharing. Training objective: regress a teacher's attention readout.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn.utils import checkpoint

mx.random.seed(3)
B, T, D = 32, 12, 16


class TrainingKVStore:
    """Holds the source layer's K/V for the shared layers during a cacheless forward."""
    def __init__(self):
        self.state = None


class SourceLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = nn.Linear(D, D)
        self.k_proj = nn.Linear(D, D, bias=False)
        self.v_proj = nn.Linear(D, D, bias=False)

    def __call__(self, x, store):
        h = x + nn.gelu(self.mlp(x))
        store.state = (self.k_proj(h), self.v_proj(h))
        return h


class SharedLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(D, D, bias=False)
        self.o_proj = nn.Linear(D, D, bias=False)

    def __call__(self, h, store):
        keys, values = store.state
        s = (self.q_proj(h) @ keys.transpose(0, 2, 1)) / D ** 0.5
        return h + self.o_proj(mx.softmax(s, axis=-1) @ values)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.src = SourceLayer()
        self.shared = SharedLayer()
        self.head = nn.Linear(D, 4)

    def __call__(self, x):
        store = TrainingKVStore()
        h = self.src(x, store)
        h = checkpoint(self.shared)(h, store)
        return self.head(h)


teacher = Model()
mx.eval(teacher.parameters())
X = mx.random.normal((512, T, D))
Y = teacher(X)
mx.eval(X, Y)

model = Model()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
k0 = mx.array(model.src.k_proj.weight)
v0 = mx.array(model.src.v_proj.weight)


def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)


step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for step in range(1, 601):
    idx = mx.random.randint(0, 512, (B,))
    loss, grads = step_fn(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0:
        full = loss_fn(model, X, Y).item()
        print(f"step {step:4d} | batch mse {loss.item():.5f} | full mse {full:.5f}")

dk = mx.abs(model.src.k_proj.weight - k0).max().item()
dv = mx.abs(model.src.v_proj.weight - v0).max().item()
print(f"src.k_proj max|dW| {dk:.3e}  src.v_proj max|dW| {dv:.3e}")
print(f"done in {time.time() - t0:.1f}s")
