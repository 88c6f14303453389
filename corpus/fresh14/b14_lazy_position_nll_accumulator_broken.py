"""Tiny causal char-level LM (no attention, a short causal token mix) on synthetic Markov text. Besides the training
loss it keeps per-position diagnostics (mean NLL and predictive entropy per
context position) that are printed as a table when training ends."""
import logging
import random
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("charlm")

random.seed(3)
mx.random.seed(3)

VOCAB = "abcdefghijklmnopqrstuvwxyz .,;:!?'-0123456789"[:40]
V, T, B, STEPS = len(VOCAB), 48, 32, 500

# synthetic Markov source: each char has 3 likely successors
succ = {c: random.sample(range(V), 3) for c in range(V)}


def sample_text(n):
    c, out = random.randrange(V), []
    for _ in range(n):
        out.append(c)
        c = random.choice(succ[c]) if random.random() < 0.9 else random.randrange(V)
    return out


corpus = sample_text(200_000)


def get_batch():
    starts = [random.randrange(len(corpus) - T - 1) for _ in range(B)]
    x = [corpus[s : s + T] for s in starts]
    y = [corpus[s + 1 : s + T + 1] for s in starts]
    return mx.array(x), mx.array(y)


class TinyLM(nn.Module):
    """Embedding + causal depthwise mixing over the last 3 tokens + MLP head."""

    def __init__(self, dim=48):
        super().__init__()
        self.emb = nn.Embedding(V, dim)
        self.mix = mx.zeros((3, dim))
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.out = nn.Linear(dim, V)

    def __call__(self, x):
        h = self.emb(x)
        prev1 = mx.pad(h[:, :-1], [(0, 0), (1, 0), (0, 0)])
        prev2 = mx.pad(h[:, :-2], [(0, 0), (2, 0), (0, 0)])
        h = h + self.mix[0] * h + self.mix[1] * prev1 + self.mix[2] * prev2
        h = h + self.mlp(h)
        return self.out(h)


def loss_fn(model, x, y):
    logits = model(x)
    tok = nn.losses.cross_entropy(logits, y, reduction="none")
    return tok.mean(), (tok, logits)


model = TinyLM()
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, loss_fn)

pos_nll = mx.zeros((T,))
pos_entropy = mx.zeros((T,))
tic = time.perf_counter()
for step in range(1, STEPS + 1):
    x, y = get_batch()
    (loss, (tok, logits)), grads = step_fn(model, x, y)
    optimizer.update(model, grads)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    pos_entropy = pos_entropy + (-(mx.exp(logp) * logp).sum(axis=-1)).mean(axis=0)
    pos_nll = pos_nll + tok.mean(axis=0)
    mx.eval(model.parameters(), optimizer.state, loss)
    if step % 50 == 0 or step == 1:
        log.info("step %d | nll %.4f | bpc %.3f | %.1f steps/s", step, loss.item(),
                 loss.item() / 0.6931, 50 / (time.perf_counter() - tic))
        tic = time.perf_counter()

pos_nll = pos_nll / STEPS
pos_entropy = pos_entropy / STEPS
print(f"{'pos':>4} | {'mean nll':>9} | {'entropy':>8}")
for p in range(0, T, 6):
    print(f"{p:>4} | {pos_nll[p].item():9.4f} | {pos_entropy[p].item():8.4f}")
