"""Tiny token-level LM on a synthetic Markov corpus; trains briefly, then a full
held-out evaluation reporting loss / perplexity / token accuracy."""
import math, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, T, B = 256, 32, 16
rng = np.random.default_rng(7)
# sparse random transition matrix -> learnable next-token structure
trans = np.zeros((V, V), dtype=np.float64)
for i in range(V):
    nxt = rng.choice(V, size=6, replace=False)
    trans[i, nxt] = rng.dirichlet(np.ones(6) * 0.5)


def sample_corpus(n_tokens):
    out = np.empty(n_tokens, dtype=np.int32)
    s = rng.integers(V)
    cum = trans.cumsum(1)
    u = rng.random(n_tokens)
    for k in range(n_tokens):
        s = int(np.searchsorted(cum[s], u[k]))
        s = min(s, V - 1)
        out[k] = s
    return out


train_tok = sample_corpus(50_000)
val_tok = sample_corpus(1200 * B * T // 8)  # ~1200 val batches after striding


class BigramMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.fc = nn.Linear(32, 64)
        self.out = nn.Linear(64, V)

    def __call__(self, x):
        return self.out(nn.gelu(self.fc(self.emb(x))))


def loss_fn(model, x, y, return_correct=False):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="sum")
    ntok = mx.array(y.size, dtype=mx.float32)
    if return_correct:
        c = (mx.argmax(logits, axis=-1) == y).sum()
        return ce, ntok, c
    return ce / ntok


def train_batches(n):
    for _ in range(n):
        ix = rng.integers(0, len(train_tok) - T - 1, B)
        xb = np.stack([train_tok[i:i + T] for i in ix])
        yb = np.stack([train_tok[i + 1:i + T + 1] for i in ix])
        yield mx.array(xb), mx.array(yb)


def val_batches():
    stride = T // 8
    starts = list(range(0, len(val_tok) - T - 1, stride))
    for k in range(0, len(starts) - B + 1, B):
        ix = starts[k:k + B]
        xb = np.stack([val_tok[i:i + T] for i in ix])
        yb = np.stack([val_tok[i + 1:i + T + 1] for i in ix])
        yield mx.array(xb), mx.array(yb)


def evaluate(model):
    all_losses = mx.array(0.0)
    ntokens = mx.array(0.0)
    correct_total = None
    n = 0
    t0 = time.time()
    for xb, yb in val_batches():
        l, nt, c = loss_fn(model, xb, yb, return_correct=True)
        all_losses = all_losses + l
        ntokens = ntokens + nt
        correct_total = c if correct_total is None else correct_total + c
        mx.eval(all_losses, ntokens)
        n += 1
        if n % 60 == 0:
            bar = "#" * (n // 60) + "." * max(0, 20 - n // 60)
            sys.stdout.write(f"\reval [{bar}] {n} batches  {time.time()-t0:5.1f}s")
            sys.stdout.flush()
    sys.stdout.write("\n")
    avg = (all_losses / ntokens).item()
    acc = (correct_total.astype(mx.float32) / ntokens).item()
    return avg, acc, n


mx.random.seed(0)
model = BigramMLP()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)

print(f"{'step':>6} | {'train_ce':>9}")
for step, (xb, yb) in enumerate(train_batches(200), 1):
    loss, grads = vg(model, xb, yb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0 or step == 1:
        print(f"{step:>6} | {loss.item():9.4f}")

print("final evaluation on held-out corpus ...")
val_loss, val_acc, nb = evaluate(model)
print(f"val_loss={val_loss:.4f} ppl={math.exp(val_loss):.2f} token_acc={val_acc:.4f} batches={nb}")
