"""Tiny causal LM fine-tune with a masked token loss normalised by the number of target tokens;
the batcher pads the tail of each epoch with empty (length-0) rows."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, T, B = 32, 12, 8
mx.random.seed(4)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.mix = nn.Linear(32, 32)
        self.out = nn.Linear(32, V)

    def __call__(self, x):
        h = self.emb(x)
        h = mx.cumsum(h, axis=1) / mx.arange(1, x.shape[1] + 1)[None, :, None]
        return self.out(nn.gelu(self.mix(h)))


def make_dataset(n=100):
    rows, lengths = [], []
    for i in range(n):
        start = i % V
        rows.append([(start + 3 * t) % V for t in range(T)])
        lengths.append(4 + i % (T - 4))
    return mx.array(rows), mx.array(lengths)


def batches(rows, lengths):
    n = rows.shape[0]
    for i in range(0, n, B):
        x, ln = rows[i:i + B], lengths[i:i + B]
        pad = B - x.shape[0]
        if pad:  # pad the tail with empty rows so every batch has B rows
            x = mx.concatenate([x, mx.zeros((pad, T), dtype=x.dtype)])
            ln = mx.concatenate([ln, mx.zeros((pad,), dtype=ln.dtype)])
        yield x, ln


def loss_fn(model, x, lengths):
    logits = model(x[:, :-1])
    targets = x[:, 1:]
    mask = mx.arange(T - 1)[None, :] < (lengths[:, None] - 1)
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


model = TinyLM()
opt = optim.AdamW(learning_rate=3e-3)
step = nn.value_and_grad(model, loss_fn)
rows, lengths = make_dataset(100)
lengths = mx.concatenate([lengths[:96], mx.zeros((4,), dtype=lengths.dtype)])  # blank lines
it = 0
for _epoch in range(15):
    for x, ln in batches(rows, lengths):
        (loss, ntoks), grads = step(model, x, ln)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, ntoks)
        it += 1
        if it % 5 == 0:
            print(f"Iter {it}: Train loss {loss.item():.3f}, Tokens {int(ntoks.item())}")
