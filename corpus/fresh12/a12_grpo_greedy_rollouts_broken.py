# Tiny GRPO-style policy-gradient loop: a linear "policy" picks one of 6 answers
# for each prompt; reward 1 when it picks the right one.
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N_PROMPTS, D, N_ACT = 256, 16, 6
X = mx.random.normal((N_PROMPTS, D))
W_true = mx.random.normal((D, N_ACT))
ANSWER = mx.argmax(X @ W_true, axis=1)

NUM_GENERATIONS = 8   # completions sampled per prompt
BATCH_PROMPTS = 32
STEPS = 1500


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(D, N_ACT)

    def __call__(self, x):
        return self.head(x)


def group_advantages(rewards, group):
    r = rewards.reshape(-1, group)
    mean = r.mean(axis=1, keepdims=True)
    std = r.std(axis=1, keepdims=True)
    return ((r - mean) / (std + 1e-4)).reshape(-1)


def grpo_loss(model, x, actions, adv):
    logp = nn.log_softmax(model(x), axis=-1)
    lp = mx.take_along_axis(logp, actions[:, None], axis=1)[:, 0]
    return -(adv * lp).mean()


policy = Policy()
mx.eval(policy.parameters())
opt = optim.Adam(learning_rate=3e-2)
loss_and_grad = nn.value_and_grad(policy, grpo_loss)

for step in range(1, STEPS + 1):
    idx = mx.random.randint(0, N_PROMPTS, (BATCH_PROMPTS,))
    x = mx.repeat(X[idx], NUM_GENERATIONS, axis=0)
    target = mx.repeat(ANSWER[idx], NUM_GENERATIONS, axis=0)
    actions = mx.argmax(policy(x), axis=-1)          # rollout: decode each completion
    rewards = (actions == target).astype(mx.float32)
    adv = group_advantages(rewards, NUM_GENERATIONS)
    loss, grads = loss_and_grad(policy, x, actions, adv)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, rewards)
    if step % 100 == 0:
        greedy = (mx.argmax(policy(X), axis=1) == ANSWER).mean().item()
        print(f"iter {step:4d} | loss {loss.item():+.5f} | reward_mean {rewards.mean().item():.3f} | greedy_acc {greedy:.3f}")
