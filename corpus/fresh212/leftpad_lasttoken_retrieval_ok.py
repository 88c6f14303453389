# Contrastive sentence-embedding training with a tiny causal (prefix-sum) encoder
# and last-token pooling. Batches are left-padded (decoder-style tokenizers pad left).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB, PAD, WIDTH = 40, 0, 16
rng = np.random.default_rng(7)


def make_batch(n):
    lens = rng.integers(2, 11, size=n)
    anchor = np.full((n, WIDTH), PAD, dtype=np.int32)
    positive = np.full((n, WIDTH), PAD, dtype=np.int32)
    mask = np.zeros((n, WIDTH), dtype=np.int32)
    for i, L in enumerate(lens):
        toks = rng.integers(1, VOCAB, size=L)
        aug = toks.copy()
        j = rng.integers(0, L)
        aug[j] = rng.integers(1, VOCAB)          # one-token corruption as the "view"
        anchor[i, WIDTH - L:] = toks              # left padding
        positive[i, WIDTH - L:] = aug
        mask[i, WIDTH - L:] = 1
    return mx.array(anchor), mx.array(positive), mx.array(mask)


def pool(hidden, attention_mask):
    # lasttoken: the final REAL token, not the final slot.
    positions = mx.arange(attention_mask.shape[1])[None, :]
    last_index = mx.max(positions * attention_mask.astype(mx.int32), axis=1)
    return mx.take_along_axis(hidden, last_index[:, None, None], axis=1).squeeze(1)


class Encoder(nn.Module):
    def __init__(self, dim=48, hidden=96, out=32):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dim)
        self.tok = nn.Linear(dim, hidden)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, out))

    def __call__(self, tokens, attention_mask):
        x = nn.gelu(self.tok(self.embed(tokens)))
        h = mx.cumsum(x, axis=1)                 # causal: position t sees tokens <= t
        z = self.head(pool(h, attention_mask))
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-6)


def info_nce(model, a, p, m, tau=0.1):
    za, zp = model(a, m), model(p, m)
    logits = za @ zp.T / tau
    labels = mx.arange(a.shape[0])
    loss = nn.losses.cross_entropy(logits, labels, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == labels).astype(mx.float32).mean()
    return loss, acc


model = Encoder()
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, lambda mdl, a, p, m: info_nce(mdl, a, p, m)[0])

eval_a, eval_p, eval_m = make_batch(256)
t0 = time.time()
for step in range(1, 301):
    a, p, m = make_batch(64)
    loss, grads = step_fn(model, a, p, m)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 30 == 0:
        ev_loss, ev_acc = info_nce(model, eval_a, eval_p, eval_m)
        print(f"step {step:4d} | nce {loss.item():.4f} | eval nce {ev_loss.item():.4f} "
              f"| top1@256 {100 * ev_acc.item():5.1f}% | {time.time() - t0:5.1f}s")
print("done")
