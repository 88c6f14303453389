# Tiny Qwen3-style sparse-MoE language model on a synthetic "counting" corpus.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
VOCAB, DIM, HID, N_EXPERTS, TOP_K, SEQ = 16, 32, 64, 4, 2, 12


class SparseMoeBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.top_k = TOP_K
        self.norm_topk_prob = True
        self.gate = nn.Linear(DIM, N_EXPERTS, bias=False)
        self.up = mx.random.normal((N_EXPERTS, DIM, HID)) * DIM ** -0.5
        self.down = mx.random.normal((N_EXPERTS, HID, DIM)) * HID ** -0.5

    def __call__(self, x):
        gates = self.gate(x)
        gates = mx.softmax(gates, axis=-1, precise=True)
        k = self.top_k
        inds = mx.argpartition(gates, kth=-k, axis=-1)[..., -k:]
        inds = mx.stop_gradient(inds)
        scores = mx.take_along_axis(gates, inds, axis=-1)
        if self.norm_topk_prob:
            scores = scores / mx.sum(scores, axis=-1, keepdims=True)
        h = nn.silu(mx.einsum("btd,edh->bteh", x, self.up))
        y_all = mx.einsum("bteh,ehd->bted", h, self.down)
        y = mx.take_along_axis(y_all, inds[..., None], axis=2)
        return (y * scores[..., None]).sum(axis=-2)


class TinyMoeLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.norm = nn.RMSNorm(DIM)
        self.mlp = SparseMoeBlock()
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, tok):
        h = self.embed(tok) + self.pos(mx.arange(tok.shape[1]))
        h = h + self.mlp(self.norm(h))
        return self.head(h)


def batch(n=32):
    start = mx.random.randint(0, VOCAB, (n, 1))
    step = mx.random.randint(1, 4, (n, 1))
    seq = (start + step * mx.arange(SEQ + 1)[None]) % VOCAB
    return seq[:, :-1], seq[:, 1:]


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = TinyMoeLM()
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for it in range(1, 301):
    x, y = batch()
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 25 == 0:
        print(f"Iter {it}: Train loss {loss.item():.3f}, It/sec {it / (time.time() - t0):.1f}")

xv, yv = batch(256)
acc = (mx.argmax(model(xv), axis=-1) == yv).mean().item()
print(f"Final: val loss {loss_fn(model, xv, yv).item():.3f}, next-token acc {acc:.3f}")
