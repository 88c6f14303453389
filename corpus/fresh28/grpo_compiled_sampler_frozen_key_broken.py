"""Tiny GRPO-style RL fine-tune of a toy token policy (pure MLX).

Each step: for every prompt, sample GROUP completions one at a time with the
(compiled, temperature-scaled) sampler, score them against a hidden answer,
turn rewards into group-relative advantages and take a policy-gradient step.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)

N_PROMPTS, SEQ, VOCAB = 12, 5, 8
GROUP = 8
TEMP = 1.0
STEPS = 1500

prompt_ids = mx.arange(N_PROMPTS)
positions = mx.arange(SEQ)
ANSWER = (prompt_ids[:, None] * 5 + positions[None, :] * 3) % VOCAB


class TokenPolicy(nn.Module):
    """A logit row per (prompt, position) slot plus a shared position bias."""
    def __init__(self):
        super().__init__()
        self.slot = nn.Embedding(N_PROMPTS * SEQ, VOCAB)
        self.slot.weight = 0.01 * mx.random.normal((N_PROMPTS * SEQ, VOCAB))
        self.pos_bias = mx.zeros((SEQ, VOCAB))

    def __call__(self, p):
        return self.slot(p[:, None] * SEQ + positions[None, :]) + self.pos_bias


@mx.compile
def sample_tokens(logits, temp):
    # multiply-then-categorical
    return mx.random.categorical(logits * (1.0 / temp))


def pg_loss(model, p, actions, adv):
    logits = model(p)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    tok = mx.take_along_axis(logp, actions[..., None], axis=-1).squeeze(-1)
    return -mx.mean(adv[:, None] * tok)


policy = TokenPolicy()
mx.eval(policy.parameters())
opt = optim.AdamW(learning_rate=3e-2, weight_decay=0.0)
step_fn = nn.value_and_grad(policy, pg_loss)
temp = mx.array(TEMP)

t0 = time.time()
for step in range(1, STEPS + 1):
    logits = policy(prompt_ids)
    # G completions per prompt, drawn one after another
    groups = [sample_tokens(logits, temp) for _ in range(GROUP)]
    actions = mx.stack(groups, axis=1).reshape(N_PROMPTS * GROUP, SEQ)
    p_rep = mx.repeat(prompt_ids, GROUP)
    reward = mx.mean((actions == ANSWER[p_rep]).astype(mx.float32), axis=1)
    r = reward.reshape(N_PROMPTS, GROUP)
    adv = ((r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-4)).reshape(-1)

    loss, grads = step_fn(policy, p_rep, actions, adv)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, reward)

    if step % 100 == 0 or step == 1:
        greedy = mx.argmax(policy(prompt_ids), axis=-1)
        rec = {
            "step": step,
            "loss": round(loss.item(), 5),
            "reward_mean": round(reward.mean().item(), 4),
            "greedy_acc": round(mx.mean((greedy == ANSWER).astype(mx.float32)).item(), 4),
            "group_std": round(r.std(axis=1).mean().item(), 4),
            "elapsed_s": round(time.time() - t0, 2),
        }
        print(json.dumps(rec), flush=True)
