"""GRPO-style policy-gradient fine-tune of a tiny policy on a contextual bandit.

Each prompt asks for one of 8 tokens; the reward gives partial credit for
tokens close to the answer. For every prompt we sample a group of 8
completions and normalise the rewards inside the group (GRPO advantages).
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_PROMPTS, N_TOKENS, GROUP, ITERS = 16, 8, 8, 300

mx.random.seed(3)
prompts = mx.random.normal((N_PROMPTS, 12))
answers = mx.random.randint(0, N_TOKENS, (N_PROMPTS,))


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(12, 32)
        self.head = nn.Linear(32, N_TOKENS)

    def __call__(self, x):
        return self.head(nn.tanh(self.hidden(x)))


def reward_fn(tokens, target):
    return 1.0 - mx.abs(tokens - target).astype(mx.float32) / N_TOKENS


def group_advantages(rewards):
    r = rewards.reshape(-1, GROUP)
    mean = r.mean(axis=1, keepdims=True)
    std = mx.sqrt(((r - mean) ** 2).mean(axis=1, keepdims=True))
    return ((r - mean) / (std + 1e-4)).reshape(-1)


def policy_loss(model, x, tokens, adv):
    logp = nn.log_softmax(model(x), axis=-1)
    chosen = mx.take_along_axis(logp, tokens[:, None], axis=-1).squeeze(-1)
    return -(adv * chosen).mean()


policy = Policy()
opt = optim.AdamW(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(policy, policy_loss)
x = mx.repeat(prompts, GROUP, axis=0)
target = mx.repeat(answers, GROUP, axis=0)

for it in range(1, ITERS + 1):
    tokens = mx.random.categorical(policy(x))
    rewards = reward_fn(tokens, target)
    adv = group_advantages(rewards)
    loss, grads = loss_and_grad(policy, x, tokens, adv)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, rewards)
    if it % 10 == 0 or it == 1:
        print(f"iter {it:4d} | reward {rewards.mean().item():.3f} | loss {loss.item():+.4f}")

print("done")
