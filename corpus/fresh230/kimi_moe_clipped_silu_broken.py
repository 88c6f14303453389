# Tiny DeepSeek-V3 style MoE language model (Kimi-VL text tower), trained on a
# synthetic "next token = affine map of previous token" corpus.
from functools import partial
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
VOCAB, DIM, HIDDEN, N_EXPERTS, TOP_K, SEQ, BATCH = 48, 32, 64, 4, 2, 16, 16


# A clipped silu to prevent fp16 from overflowing
@partial(mx.compile, shapeless=True)
def clipped_silu(x):
    return mx.clip(x * mx.sigmoid(x), a_min=-100, a_max=100)


class SwitchGLU(nn.Module):
    """Experts as stacked GLUs; activation(x_up, x_gate) like mlx_lm's SwitchGLU."""

    def __init__(self, dim, hidden, n_experts, activation):
        super().__init__()
        s = dim ** -0.5
        self.up = mx.random.uniform(-s, s, (n_experts, dim, hidden))
        self.gate = mx.random.uniform(-s, s, (n_experts, dim, hidden))
        self.down = mx.random.uniform(-hidden ** -0.5, hidden ** -0.5, (n_experts, hidden, dim))
        self.activation = activation

    def __call__(self, x, inds):
        # x: (N, D), inds: (N, K); every expert runs, then we pick the routed ones
        x_up = x[None] @ self.up                   # (E, N, H)
        x_gate = x[None] @ self.gate
        h = self.activation(x_up, x_gate)
        out = (h @ self.down).transpose(1, 0, 2)   # (N, E, D)
        return mx.take_along_axis(out, inds[..., None], axis=1)  # (N, K, D)


class MoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(DIM, N_EXPERTS, bias=False)
        self.switch_mlp = SwitchGLU(DIM, HIDDEN, N_EXPERTS, activation=clipped_silu)

    def __call__(self, x):
        shape = x.shape
        x = x.reshape(-1, DIM)
        scores = mx.sigmoid(self.router(x))
        inds = mx.stop_gradient(mx.argpartition(-scores, kth=TOP_K - 1, axis=-1)[:, :TOP_K])
        w = mx.take_along_axis(scores, inds, axis=-1)
        w = w / (w.sum(axis=-1, keepdims=True) + 1e-20)
        y = (self.switch_mlp(x, inds) * w[..., None]).sum(axis=1)
        return y.reshape(shape)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.norm1 = nn.RMSNorm(DIM)
        self.moe = MoE()
        self.norm2 = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, tok):
        h = self.embed(tok)
        h = h + self.moe(self.norm1(h))
        return self.head(self.norm2(h))


def make_batch():
    start = mx.random.randint(0, VOCAB, (BATCH, 1))
    steps = [start]
    for _ in range(SEQ):
        nxt = (steps[-1] * 5 + 3) % VOCAB
        noise = mx.random.randint(0, VOCAB, nxt.shape)
        steps.append(mx.where(mx.random.uniform(shape=nxt.shape) < 0.3, noise, nxt))
    seq = mx.concatenate(steps, axis=1)
    return seq[:, :-1], seq[:, 1:]


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = TinyLM()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for it in range(1, 121):
    x, y = make_batch()
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 20 == 0 or it == 1:
        acc = (model(x).argmax(-1) == y).astype(mx.float32).mean()
        print(f"it {it:4d} | ce {loss.item():.4f} | tok_acc {acc.item()*100:5.1f}% | {time.time()-t0:5.1f}s")
print("done")
