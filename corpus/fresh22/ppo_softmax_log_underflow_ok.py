# Tiny PPO-style RL fine-tune of a half-precision "language model" policy.
# The policy reads a prompt, samples a short response, gets a reward for
# every response token that "counts up" from the token before it, and is
# updated with a
# clipped PPO objective on the response positions only (prompt masked out).
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)

VOCAB = 16
PROMPT_LEN = 6
RESP_LEN = 4
BATCH = 32
ITERS = 400
PPO_EPOCHS = 2
CLIP = 0.2


class TinyPolicy(nn.Module):
    def __init__(self, vocab, dim=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.hid = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, ids):
        h = nn.gelu(self.hid(self.emb(ids)))
        return self.head(h)


def logprobs_from_logits(logits, labels):
    """Turn raw logit values into log probs with softmax + log."""
    logp = nn.log_softmax(logits, axis=2)
    return mx.take_along_axis(logp, labels[..., None], axis=2).squeeze(-1)


def sample_response(model, prompts):
    seq = prompts
    for _ in range(RESP_LEN):
        logits = model(seq)[:, -1, :].astype(mx.float32)
        nxt = mx.random.categorical(logits)
        seq = mx.concatenate([seq, nxt[:, None].astype(seq.dtype)], axis=1)
    return seq


def ppo_loss(model, seq, old_logp, adv, mask):
    logits = model(seq[:, :-1])
    logp = logprobs_from_logits(logits, seq[:, 1:])
    ratio = mx.exp((logp - old_logp) * mask)
    pg1 = -adv[:, None] * ratio
    pg2 = -adv[:, None] * mx.clip(ratio, 1 - CLIP, 1 + CLIP)
    per_tok = mx.maximum(pg1, pg2) * mask
    return per_tok.sum() / mask.sum()


model = TinyPolicy(VOCAB)
model.set_dtype(mx.float16)
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.3, momentum=0.9)
loss_and_grad = nn.value_and_grad(model, ppo_loss)

mask = mx.concatenate(
    [mx.zeros((BATCH, PROMPT_LEN - 1)), mx.ones((BATCH, RESP_LEN))], axis=1
).astype(mx.float16)

print(f"{'iter':>5} | {'reward':>7} | {'ppo_loss':>9} | {'sec':>5}")
t0 = time.time()
for it in range(1, ITERS + 1):
    prompts = mx.random.randint(0, VOCAB, (BATCH, PROMPT_LEN))
    seq = sample_response(model, prompts)
    resp = seq[:, PROMPT_LEN:]
    prev = seq[:, PROMPT_LEN - 1 : -1]
    reward = (resp == (prev + 1) % VOCAB).astype(mx.float16).mean(axis=1)
    adv = reward  # raw score as advantage, as in the simplest PPO loop
    old_logp = mx.stop_gradient(
        logprobs_from_logits(model(seq[:, :-1]), seq[:, 1:])
    )
    for _ in range(PPO_EPOCHS):
        loss, grads = loss_and_grad(model, seq, old_logp, adv, mask)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    if it % 20 == 0 or it == 1:
        print(
            f"{it:>5} | {reward.mean().item():>7.3f} | {loss.item():>9.4f} | "
            f"{time.time() - t0:>5.1f}",
            flush=True,
        )

print("done")
