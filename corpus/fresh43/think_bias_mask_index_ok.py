"""Toy GRPO-style policy-gradient run on a tiny token policy.

During rollouts a logits processor nudges the sampler toward "reasoning" tokens
while a row is inside a <think> span (opened by token 6, closed by token 7).
Reward: fraction of emitted tokens that equal the answer token 3, plus a bonus
if the think span was closed.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 8
SEQ = 8
GROUP = 16         # samples per prompt
PROMPTS = 4
THINK_OPEN, THINK_CLOSE, ANSWER = 6, 7, 3
ENCOURAGE_IDS = [1, 4]
B_ENCOURAGE = 0.75

mx.random.seed(7)


class TinyPolicy(nn.Module):
    def __init__(self, vocab=VOCAB, dim=64):
        super().__init__()
        self.tok = nn.Embedding(vocab + 1, dim)     # +1: BOS
        self.pos = nn.Embedding(SEQ, dim)
        self.hidden = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab)

    def __call__(self, prev_tok, pos):
        h = self.tok(prev_tok) + self.pos(pos)
        return self.out(nn.gelu(self.hidden(h)))


def tag_bias_processor(logits, inside_think):
    """Add a positive bias to ENCOURAGE_IDS for rows that are inside <think>."""
    if ENCOURAGE_IDS and B_ENCOURAGE > 0 and mx.any(inside_think).item():
        encourage_bias = mx.zeros_like(logits)
        encourage_bias = encourage_bias.at[:, ENCOURAGE_IDS].add(B_ENCOURAGE)
        encourage_bias = encourage_bias * inside_think[:, None]
        logits = logits + encourage_bias
    return logits


def rollout(policy, n):
    prev = mx.full((n,), VOCAB, dtype=mx.int32)  # BOS
    inside = mx.zeros((n,), dtype=mx.bool_)
    closed = mx.zeros((n,), dtype=mx.bool_)
    toks, prevs = [], []
    for t in range(SEQ):
        logits = policy(prev, mx.full((n,), t, dtype=mx.int32))
        logits = tag_bias_processor(logits, inside)
        nxt = mx.random.categorical(logits).astype(mx.int32)
        prevs.append(prev)
        toks.append(nxt)
        closed = mx.logical_or(closed, mx.logical_and(inside, nxt == THINK_CLOSE))
        inside = mx.where(nxt == THINK_OPEN, True, mx.where(nxt == THINK_CLOSE, False, inside))
        prev = nxt
    return mx.stack(prevs, 1), mx.stack(toks, 1), closed


def reward_fn(toks, closed):
    return mx.mean((toks == ANSWER).astype(mx.float32), axis=1) + 0.2 * closed.astype(mx.float32)


def pg_loss(policy, prevs, toks, adv):
    pos = mx.broadcast_to(mx.arange(SEQ)[None, :], prevs.shape)
    logp = nn.log_softmax(policy(prevs, pos), axis=-1)
    chosen = mx.take_along_axis(logp, toks[..., None], axis=-1).squeeze(-1)
    return -mx.mean(adv[:, None] * chosen)


def main():
    policy = TinyPolicy()
    mx.eval(policy.parameters())
    opt = optim.Adam(learning_rate=3e-4)
    step_fn = nn.value_and_grad(policy, pg_loss)
    t0 = time.time()
    for it in range(1, 401):
        n = PROMPTS * GROUP
        prevs, toks, closed = rollout(policy, n)
        r = reward_fn(toks, closed)
        g = r.reshape(PROMPTS, GROUP)
        adv = ((g - g.mean(axis=1, keepdims=True)) / (g.std(axis=1, keepdims=True) + 1e-4)).reshape(-1)
        loss, grads = step_fn(policy, prevs, toks, mx.stop_gradient(adv))
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss, r)
        if it == 1 or it % 40 == 0:
            print(json.dumps({"iter": it, "loss": round(loss.item(), 4),
                              "reward": round(r.mean().item(), 4),
                              "answer_frac": round(mx.mean((toks == ANSWER).astype(mx.float32)).item(), 4),
                              "sec": round(time.time() - t0, 2)}), flush=True)


if __name__ == "__main__":
    main()
