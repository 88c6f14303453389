"""Associative recall with a tiny DeltaNet layer (delta-rule fast weights).

Training uses the step-by-step recurrence; inference uses the chunked WY
form (one triangular inverse per sequence), which is much faster for long
prompts but is an inference-only path.
"""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_KEYS, N_VALS, N_PAIRS = 8, 8, 4
VOCAB = N_KEYS + N_VALS
DIM, HEAD = 32, 24


class DeltaLayer(nn.Module):
    def __init__(self, dim, head):
        super().__init__()
        self.q = nn.Linear(2 * dim, head, bias=False)
        self.k = nn.Linear(2 * dim, head, bias=False)
        self.v = nn.Linear(2 * dim, head, bias=False)
        self.b = nn.Linear(2 * dim, 1)
        self.o = nn.Linear(head, dim, bias=False)

    def _qkvb(self, h):
        q = self.q(h)
        k = self.k(h)
        k = k / (mx.linalg.norm(k, axis=-1, keepdims=True) + 1e-6)
        v = self.v(h)
        beta = mx.sigmoid(self.b(h))
        return q, k, v, beta

    def recurrent(self, q, k, v, beta):
        B, T, H = k.shape
        S = mx.zeros((B, H, H))
        outs = []
        for t in range(T):
            kt, vt, qt, bt = k[:, t], v[:, t], q[:, t], beta[:, t]
            pred = (S @ kt[..., None])[..., 0]
            S = S + (bt * (vt - pred))[..., None] * kt[:, None, :]
            outs.append((S @ qt[..., None])[..., 0])
        return mx.stack(outs, axis=1)

    def chunked(self, q, k, v, beta):
        T = k.shape[1]
        eye = mx.eye(T)
        A = mx.tril(beta * (k @ k.transpose(0, 2, 1)), k=-1)
        Tinv = mx.linalg.tri_inv(eye + A, upper=False, stream=mx.cpu)
        U = Tinv @ (beta * v)
        return mx.tril(q @ k.transpose(0, 2, 1)) @ U

    def __call__(self, h):
        q, k, v, beta = self._qkvb(h)
        if self.training:
            o = self.recurrent(q, k, v, beta)
        else:
            o = self.chunked(q, k, v, beta)
        return self.o(o)


class RecallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.delta = DeltaLayer(DIM, HEAD)
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, N_VALS)

    def __call__(self, x):
        e = self.emb(x)
        prev = mx.concatenate([mx.zeros_like(e[:, :1]), e[:, :-1]], axis=1)
        h = mx.concatenate([e, prev], axis=-1)
        z = e + self.delta(h)
        return self.head(self.norm(z[:, -1]))


def make_batch(n):
    keys = mx.argsort(mx.random.uniform(shape=(n, N_KEYS)), axis=1)[:, :N_PAIRS]
    vals = mx.random.randint(0, N_VALS, (n, N_PAIRS))
    seq = mx.stack([keys, vals + N_KEYS], axis=2).reshape(n, 2 * N_PAIRS)
    pick = mx.random.randint(0, N_PAIRS, (n,))
    qkey = mx.take_along_axis(keys, pick[:, None], axis=1)
    target = mx.take_along_axis(vals, pick[:, None], axis=1)[:, 0]
    return mx.concatenate([seq, qkey], axis=1), target


def load_model(seed):
    mx.random.seed(seed)
    m = RecallNet()
    mx.eval(m.parameters())
    m.eval()
    return m


def accuracy(model, x, y):
    return float((mx.argmax(model(x), axis=-1) == y).mean())


model = load_model(0)
x_val, y_val = make_batch(512)
print(f"untrained recall acc (chunked path): {accuracy(model, x_val, y_val):.3f}  (chance {1/N_VALS:.3f})")


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for it in range(1, 401):
    xb, yb = make_batch(64)
    loss, grads = loss_and_grad(model, xb, yb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        model.eval()
        acc = accuracy(model, x_val, y_val)
        model.train()
        print(f"it {it:4d}  xent {loss.item():.4f}  val_recall {acc:.3f}  {time.time()-t0:.1f}s")

model.eval()
print(f"final recall acc: {accuracy(model, x_val, y_val):.3f}")
