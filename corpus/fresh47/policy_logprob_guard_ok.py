"""REINFORCE on a tiny bigram token policy, compiled train step.

Task: emit a sequence where each token follows the rule next = (3*prev + 1) % V.
Reward = fraction of positions that obey the rule. Baseline = running mean reward.
"""
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V = 16          # vocab
T = 12          # response length
B = 64          # episodes per update
STEPS = 300
LOG_EVERY = 25


class BigramPolicy(nn.Module):
    def __init__(self, vocab, dim=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.hidden = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab)

    def __call__(self, tokens):
        h = nn.gelu(self.hidden(self.emb(tokens)))
        return self.out(h)


def compute_logprobs(model, prompt_tokens, response_tokens):
    """log pi(response | prompt) per token via teacher forcing."""
    full = mx.concatenate([prompt_tokens, response_tokens], axis=1)
    logits = model(full[:, :-1])[:, -response_tokens.shape[1]:, :]
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    selected = mx.take_along_axis(logp, response_tokens[..., None], axis=-1).squeeze(-1)
    selected = mx.where(mx.isnan(selected) | mx.isinf(selected),
                        mx.array(-1e6, dtype=selected.dtype), selected)
    return selected


def rollout(model, prompts, key):
    toks = [prompts[:, -1]]
    keys = mx.random.split(key, T)
    for t in range(T):
        logits = model(toks[-1])
        toks.append(mx.random.categorical(logits, key=keys[t]))
    return mx.stack(toks[1:], axis=1)


def reward_fn(prompts, resp):
    prev = mx.concatenate([prompts[:, -1:], resp[:, :-1]], axis=1)
    ok = resp == (3 * prev + 1) % V
    return ok.astype(mx.float32).mean(axis=1)


def pg_loss(model, prompts, resp, adv):
    lp = compute_logprobs(model, prompts, resp)
    return -(adv[:, None] * lp).mean()


mx.random.seed(7)
policy = BigramPolicy(V)
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(policy, pg_loss)
state = [policy.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(prompts, resp, adv):
    loss, grads = loss_and_grad(policy, prompts, resp, adv)
    opt.update(policy, grads)
    return loss


baseline = 0.0
t0 = time.time()
key = mx.random.key(0)
for step in range(1, STEPS + 1):
    key, k1, k2 = mx.random.split(key, 3)
    prompts = mx.random.randint(0, V, (B, 1), key=k1)
    resp = rollout(policy, prompts, k2)
    rew = reward_fn(prompts, resp)
    mean_r = rew.mean().item()
    baseline = mean_r if step == 1 else 0.9 * baseline + 0.1 * mean_r
    adv = rew - baseline
    loss = train_step(prompts, resp, adv)
    mx.eval(state)
    if step % LOG_EVERY == 0 or step == 1:
        print(json.dumps({"step": step, "reward": round(mean_r, 4),
                          "baseline": round(baseline, 4),
                          "pg_loss": round(loss.item(), 5),
                          "sec": round(time.time() - t0, 2)}), flush=True)
