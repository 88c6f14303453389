"""GRPO on an arithmetic toy task: the policy must answer "a+b" for a, b in 0..4.

Completions are decoded to text and scored by a rule-based reward function,
like the r1_accuracy_reward_func of the mlx-lm GRPO trainer.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

DIGITS = [str(d) for d in range(10)]
GROUP, ITERS = 8, 250


def accuracy_reward(completions, answers):
    return [1.0 if c.strip() == a else 0.0 for c, a in zip(completions, answers)]


class AnswerPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(25, 32)
        self.out = nn.Linear(32, 10)

    def __call__(self, prompt_ids):
        return self.out(nn.relu(self.embed(prompt_ids)))


def loss_fn(model, prompt_ids, tokens, adv):
    logp = nn.log_softmax(model(prompt_ids), axis=-1)
    logp = mx.take_along_axis(logp, tokens[:, None], axis=-1).squeeze(-1)
    return -(adv * logp).mean()


mx.random.seed(12)
policy = AnswerPolicy()
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(policy, loss_fn)

for it in range(1, ITERS + 1):
    a = mx.random.randint(0, 5, (8,))
    b = mx.random.randint(0, 5, (8,))
    prompt_ids = mx.repeat(a * 5 + b, GROUP)
    answers = [a_i + b_i for a_i, b_i in zip(mx.repeat(a, GROUP).tolist(),
                                              mx.repeat(b, GROUP).tolist())]
    tokens = mx.random.categorical(policy(prompt_ids))
    completions = [DIGITS[t] for t in tokens.tolist()]
    rewards = mx.array(accuracy_reward(completions, answers)).reshape(-1, GROUP)
    mean, std = rewards.mean(axis=1, keepdims=True), rewards.std(axis=1, keepdims=True)
    adv = (rewards - mean) / (std + 1e-4)
    loss, grads = step(policy, prompt_ids, tokens, adv.reshape(-1))
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    if it % 25 == 0:
        print(f"Iter {it}: Train loss {loss.item():.3f}, rewards mean {rewards.mean().item():.3f}, "
              f"rewards std {rewards.std().item():.3f}")
