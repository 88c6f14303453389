"""ORPO preference tuning of a tiny next-token model on synthetic chosen/rejected pairs."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

VOCAB = 16
SEQ = 10
BATCH = 16
ITERS = 2000
LAMBDA = 0.5


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, tokens):
        h = self.embed(tokens)
        h = nn.gelu(self.mix(h)) + h
        return self.head(h)


def make_pair(n):
    # chosen: counting sequences (t, t+1, t+2, ...) mod VOCAB, rejected: random tokens
    start = mx.random.randint(0, VOCAB, (n, 1))
    chosen = (start + mx.arange(SEQ)[None, :]) % VOCAB
    rejected = mx.random.randint(0, VOCAB, (n, SEQ))
    rejected[:, 0] = chosen[:, 0]  # same "prompt" token
    lens_c = mx.random.randint(6, SEQ + 1, (n,))
    lens_r = mx.random.randint(6, SEQ + 1, (n,))
    pos = mx.arange(SEQ)[None, :]
    mask_c = (pos < lens_c[:, None]).astype(mx.float32)
    mask_r = (pos < lens_r[:, None]).astype(mx.float32)
    return chosen, rejected, mask_c, mask_r


def get_logps(model, tokens, mask):
    logits = model(tokens[:, :-1])
    targets = tokens[:, 1:]
    logp = nn.log_softmax(logits, axis=-1)
    tok_logp = mx.take_along_axis(logp, targets[..., None], axis=-1).squeeze(-1)
    m = mask[:, 1:]
    return (tok_logp * m).sum(-1) / mx.maximum(m.sum(-1), 1.0)


def log1mexp(x):
    x = mx.minimum(x, -1e-7)
    return mx.where(x > -0.6931, mx.log(-mx.expm1(x)), mx.log1p(-mx.exp(x)))


def orpo_loss(chosen_logps, rejected_logps):
    nll = -chosen_logps.mean()
    log_odds = (chosen_logps - log1mexp(chosen_logps)) - (rejected_logps - log1mexp(rejected_logps))
    ratio = -nn.log_sigmoid(log_odds).mean()
    acc = (chosen_logps > rejected_logps).astype(mx.float32).mean()
    margin = (chosen_logps - rejected_logps).mean()
    return nll + LAMBDA * ratio, (acc, margin)


model = TinyLM(VOCAB)
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=3e-3)


def loss_wrapper(chosen, rejected, mask_c, mask_r):
    chosen_logps = get_logps(model, chosen, mask_c)
    rejected_logps = get_logps(model, rejected, mask_r)
    loss, aux = orpo_loss(chosen_logps, rejected_logps)
    return loss, aux


loss_value_and_grad = nn.value_and_grad(model, loss_wrapper)


def step(batch):
    chosen, rejected, mask_c, mask_r = batch
    (loss, (acc, margin)), grads = loss_value_and_grad(chosen, rejected, mask_c, mask_r)
    optimizer.update(model, grads)
    return loss, acc, margin


t0 = time.time()
run_loss = run_acc = run_margin = 0.0
for it in range(1, ITERS + 1):
    loss, acc, margin = step(make_pair(BATCH))
    mx.eval(model.parameters(), optimizer.state, loss, acc, margin)
    run_loss += loss.item()
    run_acc += acc.item()
    run_margin += margin.item()
    if it % 100 == 0:
        print(
            f"Iter {it:4d} | orpo loss {run_loss / 100:7.4f} | chosen>rejected {run_acc / 100:5.2f}"
            f" | logp margin {run_margin / 100:+.4f} | {time.time() - t0:5.1f}s",
            flush=True,
        )
        run_loss = run_acc = run_margin = 0.0
print("done")
