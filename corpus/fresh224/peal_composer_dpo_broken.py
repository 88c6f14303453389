"""Preference-tune a tiny bell-ringing "peal composer" with DPO.

A next-bell model (embedding + MLP) scores rows of a synthetic method. Ringers
marked which of two candidate touches they preferred; we DPO-tune the model on
those pairs. Trainer layout follows the mlx-tune DPOTrainer (dpo_loss with an
optional precomputed reference, value_and_grad over the model, AdamW + cosine).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
V, T, N_PAIRS = 12, 10, 384
BETA = 0.1


def make_chain(temp):
    base = np.zeros((V, V))
    for a in range(V):
        base[a, (a + 1) % V] += 3.0   # "plain hunt" step
        base[a, (a + 3) % V] += 1.5   # "dodge"
    logits = base / temp + rng.normal(0, 0.3, (V, V))
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


GOOD, SLOPPY = make_chain(1.4), make_chain(2.6)


def sample(chain, n):
    seqs = np.zeros((n, T), dtype=np.int32)
    lens = rng.integers(6, T + 1, n).astype(np.int32)
    for i in range(n):
        seqs[i, 0] = rng.integers(V)
        for t in range(1, T):
            seqs[i, t] = rng.choice(V, p=chain[seqs[i, t - 1]])
    return seqs, lens


c_ids, c_len = sample(GOOD, N_PAIRS)
r_ids, r_len = sample(SLOPPY, N_PAIRS)
split = 320
train = tuple(mx.array(a[:split]) for a in (c_ids, r_ids, c_len, r_len))
valid = tuple(mx.array(a[split:]) for a in (c_ids, r_ids, c_len, r_len))


class NextBell(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.tok = nn.Embedding(V, dim)
        self.pos = nn.Embedding(T, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, V))

    def __call__(self, ids):
        h = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        return self.mlp(h)


def compute_log_probs_with_lengths(model, ids, lengths):
    logits = model(ids[:, :-1])
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    tok = mx.take_along_axis(logp, ids[:, 1:, None], axis=-1).squeeze(-1)
    mask = mx.arange(T - 1)[None, :] < (lengths[:, None] - 1)
    return (tok * mask).sum(axis=1)


def dpo_loss(model, chosen_ids, rejected_ids, chosen_lengths, rejected_lengths,
             beta=0.1, reference_chosen_logprobs=None, reference_rejected_logprobs=None):
    log_pi_chosen = compute_log_probs_with_lengths(model, chosen_ids, chosen_lengths)
    log_pi_rejected = compute_log_probs_with_lengths(model, rejected_ids, rejected_lengths)
    if reference_chosen_logprobs is None or reference_rejected_logprobs is None:
        # Use current model with stop_gradient as reference (memory efficient)
        log_ref_chosen = mx.stop_gradient(log_pi_chosen)
        log_ref_rejected = mx.stop_gradient(log_pi_rejected)
    else:
        log_ref_chosen = reference_chosen_logprobs
        log_ref_rejected = reference_rejected_logprobs
    margins = beta * ((log_pi_chosen - log_ref_chosen) - (log_pi_rejected - log_ref_rejected))
    losses = -nn.log_sigmoid(margins)
    return mx.mean(losses), (margins, log_pi_chosen)


mx.random.seed(3)
model = NextBell()
mx.eval(model.parameters())

ITERS, BS = 240, 32
optimizer = optim.AdamW(learning_rate=optim.cosine_decay(6e-4, ITERS), weight_decay=0.0)


def loss_fn(model, cid, rid, cl, rl):
    return dpo_loss(model, cid, rid, cl, rl, beta=BETA)


loss_and_grad = nn.value_and_grad(model, loss_fn)

print(f"pairs train={split} valid={N_PAIRS - split}  beta={BETA}  iters={ITERS}")
t0 = time.time()
perm = np.arange(split)
for step in range(1, ITERS + 1):
    if (step - 1) % (split // BS) == 0:
        rng.shuffle(perm)
    j = (step - 1) % (split // BS)
    idx = mx.array(perm[j * BS:(j + 1) * BS])
    batch = [a[idx] for a in train]
    (loss, (margins, lpc)), grads = loss_and_grad(model, *batch)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss, margins, lpc)
    if step == 1 or step % 20 == 0:
        vl, (vm, vlp) = dpo_loss(model, *valid, beta=BETA)
        acc = (vm > 0).astype(mx.float32).mean()
        print(f"iter {step:4d} | loss {loss.item():.4f} | margin {margins.mean().item():+.3f} "
              f"| logp(chosen) {lpc.mean().item():8.3f} | val_loss {vl.item():.4f} "
              f"| val_pref_acc {100 * acc.item():5.1f}% | lr {optimizer.learning_rate.item():.2e}")
print(f"done in {time.time() - t0:.1f}s")
