"""Tiny DPO (direct preference optimisation) run on a toy next-token model.

Chosen completions follow the "count up by one (mod V)" rule, rejected ones are
the same sequence with one token corrupted.  A frozen copy of the initial policy is the reference model.
Every `REPORT_EVERY` steps we print the averaged train loss, the implicit
rewards, the preference accuracy and the reward margin for that window.
"""
import copy
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

V = 16          # vocabulary
T = 8           # sequence length
BATCH = 32
ITERS = 800
REPORT_EVERY = 50
BETA = 0.1

rng = np.random.default_rng(0)
mx.random.seed(0)


def make_pairs(n):
    start = rng.integers(0, V, size=(n, 1))
    chosen = (start + np.arange(T)[None, :]) % V
    # rejected: the same sequence with one position corrupted
    rejected = chosen.copy()
    pos = rng.integers(1, T, size=n)
    rejected[np.arange(n), pos] = (chosen[np.arange(n), pos] + rng.integers(1, V, size=n)) % V
    return mx.array(chosen, dtype=mx.int32), mx.array(rejected, dtype=mx.int32)


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, vocab))

    def __call__(self, tokens):
        return self.mlp(self.embed(tokens))


def seq_logp(model, seqs):
    logits = model(seqs[:, :-1])
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    tok = mx.take_along_axis(logp, seqs[:, 1:, None], axis=-1).squeeze(-1)
    return tok.sum(axis=-1)


policy = TinyLM(V)
mx.eval(policy.parameters())
reference = copy.deepcopy(policy)
reference.freeze()


def dpo_loss(model, chosen, rejected):
    pc = seq_logp(model, chosen)
    pr = seq_logp(model, rejected)
    rc = mx.stop_gradient(seq_logp(reference, chosen))
    rr = mx.stop_gradient(seq_logp(reference, rejected))
    chosen_reward = BETA * (pc - rc)
    rejected_reward = BETA * (pr - rr)
    loss = -nn.log_sigmoid(chosen_reward - rejected_reward).mean()
    metrics = {
        "accuracies": (chosen_reward > rejected_reward).astype(mx.float32).mean(),
        "margins": (chosen_reward - rejected_reward).mean(),
    }
    rewards = mx.stack([chosen_reward.mean(), rejected_reward.mean()])
    return loss, (rewards, metrics)


loss_and_grad = nn.value_and_grad(policy, dpo_loss)
optimizer = optim.AdamW(learning_rate=2e-4, weight_decay=0.0)

losses = 0.0
rewards = mx.zeros((2,))
steps = 0
accumulated_metrics = {"accuracies": 0, "margins": 0}

start = time.perf_counter()
for it in range(1, ITERS + 1):
    chosen, rejected = make_pairs(BATCH)
    (lvalue, (rew, metrics)), grads = loss_and_grad(policy, chosen, rejected)
    optimizer.update(policy, grads)

    losses += lvalue
    rewards += rew
    steps += 1
    for k, v in metrics.items():
        accumulated_metrics[k] += v
    mx.eval(policy.parameters(), optimizer.state, losses, rewards, accumulated_metrics)

    if it % REPORT_EVERY == 0 or it == ITERS:
        train_loss = losses.item() / steps
        r_c, r_r = [r / steps for r in rewards.tolist()]
        avg_metrics = {k: v.item() / steps for k, v in accumulated_metrics.items()}
        elapsed = time.perf_counter() - start
        print(
            f"Iter {it:4d} | train loss {train_loss:.4f} | chosen reward {r_c:+.3f} "
            f"| rejected reward {r_r:+.3f} | accuracy {avg_metrics['accuracies']:.3f} "
            f"| margin {avg_metrics['margins']:+.3f} | {steps / elapsed:.1f} it/s",
            flush=True,
        )
        losses = 0.0
        rewards = mx.zeros((2,))
        steps = 0
        start = time.perf_counter()

# held-out check
chosen, rejected = make_pairs(256)
_, (rew, metrics) = dpo_loss(policy, chosen, rejected)
print(f"held-out preference accuracy {metrics['accuracies'].item():.3f}, "
      f"margin {metrics['margins'].item():+.3f}")
