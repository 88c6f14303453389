# GRPO on a toy "say the magic token" task: a tiny policy writes 6-token completions
# for 8 prompts, group-normalised rewards, PPO-style clipped ratio + KL to a frozen reference.
import copy
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)

N_PROMPTS, VOCAB, LENGTH, GROUP = 8, 6, 6, 8
BETA, EPS_CLIP = 0.04, 0.2
IMPORTANCE_SAMPLING_LEVEL = None  # library default


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.prompt_emb = nn.Embedding(N_PROMPTS, 32)
        self.pos_emb = nn.Embedding(LENGTH, 32)
        self.body = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, VOCAB))

    def __call__(self, prompts):
        h = self.prompt_emb(prompts)[:, None, :] + self.pos_emb(mx.arange(LENGTH))[None]
        return self.body(h)  # (B, LENGTH, VOCAB)


def token_logps(model, prompts, completions):
    logp = nn.log_softmax(model(prompts), axis=-1)
    return mx.take_along_axis(logp, completions[..., None], axis=-1).squeeze(-1)


def reward_fn(prompts, completions):
    target = (prompts * 5 + 1) % VOCAB
    return (completions == target[:, None]).astype(mx.float32).mean(-1)


def grpo_loss(model, prompts, completions, old_logps, ref_logps, advantages):
    logps = token_logps(model, prompts, completions)
    log_ratio = logps - mx.stop_gradient(old_logps)
    if IMPORTANCE_SAMPLING_LEVEL is None or IMPORTANCE_SAMPLING_LEVEL == "token":
        log_w = log_ratio
    elif IMPORTANCE_SAMPLING_LEVEL == "sequence":
        log_w = log_ratio.mean(-1, keepdims=True)
    elif IMPORTANCE_SAMPLING_LEVEL == "none":
        log_w = mx.zeros_like(log_ratio)
    else:
        raise ValueError(IMPORTANCE_SAMPLING_LEVEL)
    coef_1 = mx.exp(log_w)
    coef_2 = mx.clip(coef_1, 1 - EPS_CLIP, 1 + EPS_CLIP)
    adv = advantages[:, None]
    pg = -mx.minimum(coef_1 * adv, coef_2 * adv)
    d = ref_logps - logps
    kl = mx.exp(d) - d - 1
    return (pg + BETA * kl).mean()


policy = Policy()
mx.eval(policy.parameters())
reference = copy.deepcopy(policy)
reference.freeze()
opt = optim.AdamW(learning_rate=1e-2, weight_decay=0.0)
loss_and_grad = nn.value_and_grad(policy, grpo_loss)

start = time.time()
for it in range(1, 1201):
    prompts = mx.repeat(mx.random.permutation(N_PROMPTS)[:4], GROUP)
    logits = policy(prompts)
    completions = mx.random.categorical(logits)
    old_logps = mx.stop_gradient(token_logps(policy, prompts, completions))
    ref_logps = token_logps(reference, prompts, completions)
    rewards = reward_fn(prompts, completions)
    r = rewards.reshape(-1, GROUP)
    advantages = ((r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + 1e-4)).reshape(-1)
    loss, grads = loss_and_grad(policy, prompts, completions, old_logps, ref_logps, advantages)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, rewards)
    if it % 100 == 0:
        greedy = mx.argmax(policy(mx.arange(N_PROMPTS)), axis=-1)
        print(json.dumps({
            "iter": it,
            "loss": round(loss.item(), 5),
            "mean_reward": round(rewards.mean().item(), 4),
            "greedy_reward": round(reward_fn(mx.arange(N_PROMPTS), greedy).mean().item(), 4),
            "elapsed": round(time.time() - start, 2),
        }), flush=True)
