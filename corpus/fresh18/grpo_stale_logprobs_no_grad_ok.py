"""Group-relative policy optimisation (GRPO-style) on a toy "answer the prompt" task.

Each prompt is a one-hot id; the policy picks one of 8 answers. Reward is 1 for the
correct answer for that prompt (answer = (3*prompt + 1) % 8), else 0. For each prompt
we sample a group of answers, normalise rewards within the group, and maximise the
advantage-weighted log-probability.
"""
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_PROMPTS, N_ANSWERS, GROUP = 16, 8, 8
rng = np.random.default_rng(1)
mx.random.seed(1)

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(N_PROMPTS, 32)
        self.hidden = nn.Linear(32, 32)
        self.head = nn.Linear(32, N_ANSWERS)

    def __call__(self, prompts):
        return self.head(nn.relu(self.hidden(self.emb(prompts))))

def correct_answer(p):
    return (3 * p + 1) % N_ANSWERS

def rollout(policy, prompts):
    """Sample GROUP answers per prompt; also return their log-probs (from generation)."""
    logits = policy(prompts)                                  # (B, A)
    logits = mx.repeat(logits, GROUP, axis=0)                 # (B*G, A)
    actions = mx.random.categorical(logits)
    logp = nn.log_softmax(logits, axis=-1)
    logp_act = mx.take_along_axis(logp, actions[:, None], axis=-1)[:, 0]
    return actions, logp_act

def grpo_loss(policy, prompts, actions, logp_act, adv):
    # policy-gradient surrogate: -E[adv * log pi(a|p)], log-probs recomputed from the policy
    logp = nn.log_softmax(mx.repeat(policy(prompts), GROUP, axis=0), axis=-1)
    logp_act = mx.take_along_axis(logp, actions[:, None], axis=-1)[:, 0]
    return -mx.mean(adv * logp_act)

policy = Policy()
mx.eval(policy.parameters())
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(policy, grpo_loss)

for it in range(1, 301):
    prompts = mx.array(rng.integers(0, N_PROMPTS, size=32))
    actions, logp_act = rollout(policy, prompts)
    target = mx.repeat(correct_answer(prompts), GROUP)
    reward = (actions == target).astype(mx.float32).reshape(-1, GROUP)
    adv = (reward - reward.mean(axis=1, keepdims=True)) / (reward.std(axis=1, keepdims=True) + 1e-4)
    adv = adv.reshape(-1)
    loss, grads = loss_and_grad(policy, prompts, actions, logp_act, adv)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, reward)
    if it % 20 == 0:
        print(json.dumps({"iter": it, "surrogate": round(loss.item(), 5),
                          "mean_reward": round(reward.mean().item(), 4)}))
