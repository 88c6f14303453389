# GRPO-style policy-gradient on a toy token task.
# Policy weights in fp32, the log-prob path runs in float16 to save memory.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
V, T, G, PROMPTS = 12, 12, 8, 16
PAD, EOS, TARGET = 0, 1, 7
CLIP = 0.2


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, 32)
        self.pos = nn.Embedding(T, 32)
        self.l1 = nn.Linear(32, 64)
        self.out = nn.Linear(64, V)

    def __call__(self, prev, pos):
        h = self.tok(prev) + self.pos(pos)
        return self.out(nn.relu(self.l1(h)))


# PAD is never generated: its logit is pushed to -inf
gen_bias = mx.zeros((V,)).at[PAD].add(-float("inf"))


def rollout(policy, prompts):
    B = prompts.shape[0]
    prev = prompts
    alive = mx.ones((B,), dtype=mx.bool_)
    toks, masks = [], []
    for t in range(T):
        logits = policy(prev, mx.full((B,), t, dtype=mx.int32)) + gen_bias
        a = mx.random.categorical(logits)
        a = mx.where(alive, a, PAD)
        toks.append(a)
        masks.append(alive)
        alive = alive & (a != EOS)
        prev = a
    toks = mx.stack(toks, axis=1)
    masks = mx.stack(masks, axis=1).astype(mx.float32)
    return toks, masks


def token_logprobs(policy, prompts, toks):
    B = toks.shape[0]
    prevs = mx.concatenate([prompts[:, None], toks[:, :-1]], axis=1)
    pos = mx.broadcast_to(mx.arange(T)[None], (B, T))
    logits = (policy(prevs, pos) + gen_bias).astype(mx.float16)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    lp = mx.take_along_axis(logp, toks[..., None], axis=-1).squeeze(-1)
    # sanitize non-finite log-probs (PAD positions) with a large negative value
    lp = mx.where(mx.isnan(lp) | mx.isinf(lp), mx.array(mx.finfo(lp.dtype).min, dtype=lp.dtype), lp)
    return lp


def reward_fn(toks, masks):
    hits = ((toks == TARGET).astype(mx.float32) * masks).sum(axis=1)
    # noisy judge: the score is observed with some noise
    return hits / T + 0.1 * mx.random.normal(hits.shape)


def grpo_loss(policy, prompts, toks, masks, old_lp, adv):
    new_lp = token_logprobs(policy, prompts, toks)
    ratio = mx.exp(new_lp.astype(mx.float32) - old_lp.astype(mx.float32))
    surr = mx.minimum(ratio * adv[:, None], mx.clip(ratio, 1 - CLIP, 1 + CLIP) * adv[:, None])
    return -(surr * masks).sum() / masks.sum()


policy = Policy()
opt = optim.Adam(learning_rate=1e-4)
loss_and_grad = nn.value_and_grad(policy, grpo_loss)

t0 = time.time()
for update in range(1, 201):
    prompts = mx.repeat(mx.random.randint(2, 7, (PROMPTS,)), G)
    toks, masks = rollout(policy, prompts)
    old_lp = mx.stop_gradient(token_logprobs(policy, prompts, toks))
    r = reward_fn(toks, masks).reshape(PROMPTS, G)
    adv = ((r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-4)).reshape(-1)
    for _ in range(2):
        loss, grads = loss_and_grad(policy, prompts, toks, masks, old_lp, adv)
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss)
    if update % 10 == 0 or update == 1:
        print(json.dumps({
            "update": update,
            "loss": round(loss.item(), 5),
            "mean_reward": round(r.mean().item(), 4),
            "target_frac": round((((toks == TARGET) * masks).sum() / masks.sum()).item(), 4),
            "mean_len": round(masks.sum(axis=1).mean().item(), 2),
            "elapsed": round(time.time() - t0, 1),
        }))
