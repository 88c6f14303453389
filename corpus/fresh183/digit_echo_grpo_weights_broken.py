# Tiny GRPO run: a policy learns to answer each digit prompt with (d+1)%10,
# scored by two weighted reward functions (correctness + parity format).
import copy
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(3)
VOCAB, CLEN, GROUP, BATCH = 10, 3, 6, 8
beta, epsilon = 0.04, 1e-4


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 32)
        self.pos = nn.Embedding(CLEN, 32)
        self.out = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, VOCAB))

    def __call__(self, prompts):
        h = self.emb(prompts)[:, None, :] + self.pos(mx.arange(CLEN))[None]
        return self.out(h)  # (N, CLEN, VOCAB)


def per_token_logps(model, prompts, completions):
    logits = model(prompts)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(logp, completions[..., None], axis=-1).squeeze(-1)


def correctness_reward(prompts, completions, answer):
    return [sum(int(t) == int(a) for t in c) / CLEN for c, a in zip(completions, answer)]


def parity_reward(prompts, completions, answer):
    return [1.0 if int(c[0]) % 2 == int(a) % 2 else 0.0 for c, a in zip(completions, answer)]


reward_funcs = [correctness_reward, parity_reward]
reward_weights = [1.0, 0.5]


def grpo_loss(model, ref_model, prompts, completions, answers, batch_size, group_size):
    token_log_probs = per_token_logps(model, prompts, completions)
    ref_token_log_probs = mx.stop_gradient(per_token_logps(ref_model, prompts, completions))
    comp_list = completions.tolist()
    ans_list = answers.tolist()

    all_func_rewards = []
    for reward_func in reward_funcs:
        all_func_rewards.append(mx.array(reward_func(prompts=None, completions=comp_list, answer=ans_list)))
    rewards = mx.stack(all_func_rewards, axis=1)

    if reward_weights is not None:
        if len(reward_weights) != len(reward_funcs):
            raise ValueError("Number of reward weights must match number of reward functions")
        weights = mx.array(reward_weights, dtype=mx.float32)
    else:
        weights = mx.ones(len(reward_funcs), dtype=mx.float32)
        rewards = (rewards * mx.expand_dims(weights, 0)).sum(axis=1)

    rewards_reshaped = rewards.reshape(batch_size, group_size)
    mean_rewards = mx.broadcast_to(mx.mean(rewards_reshaped, axis=1)[:, None], rewards_reshaped.shape).reshape(-1)
    std_rewards = mx.broadcast_to(mx.std(rewards_reshaped, axis=1)[:, None], rewards_reshaped.shape).reshape(-1)
    advantages = (rewards - mean_rewards) / (std_rewards + epsilon)

    kl_div = mx.exp(ref_token_log_probs - token_log_probs) - (ref_token_log_probs - token_log_probs) - 1
    policy_ratio = mx.exp(token_log_probs - mx.stop_gradient(token_log_probs))
    per_token_loss = -(policy_ratio * advantages.reshape(-1, 1) - beta * kl_div)
    loss = per_token_loss.mean(axis=1).mean()
    return loss, (mx.mean(rewards), mx.mean(kl_div))


policy = Policy()
ref_policy = Policy()
ref_policy.update(tree_map(lambda x: mx.array(x), policy.parameters()))
ref_policy.freeze()
mx.eval(policy.parameters(), ref_policy.parameters())

optimizer = optim.Adam(learning_rate=3e-3)


def loss_only(model, *args):
    return grpo_loss(model, ref_policy, *args)


loss_and_grad = nn.value_and_grad(policy, loss_only)

for it in range(1, 151):
    base = mx.random.randint(0, VOCAB, (BATCH,))
    prompts = mx.repeat(base, GROUP)
    answers = (prompts + 1) % VOCAB
    logits = policy(prompts)
    completions = mx.random.categorical(logits)  # (N, CLEN)
    (loss, (rmean, kl)), grads = loss_and_grad(policy, prompts, completions, answers, BATCH, GROUP)
    optimizer.update(policy, grads)
    mx.eval(policy.parameters(), optimizer.state, loss, rmean, kl)
    if it % 10 == 0 or it == 1:
        print(f"iter {it:4d} | grpo_loss {loss.item():+.4f} | reward {rmean.item():.3f} / 1.500 | kl {kl.item():.4f}")

# greedy accuracy
test = mx.arange(VOCAB)
pred = mx.argmax(policy(test), axis=-1)
acc = (pred == ((test + 1) % VOCAB)[:, None]).astype(mx.float32).mean().item()
print(f"greedy token accuracy: {acc*100:.1f}%")
