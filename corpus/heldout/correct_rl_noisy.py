"""REINFORCE on a noisy 10-armed contextual bandit: rewards have unit Gaussian noise.

Correct loop: the per-batch objective is very noisy and the policy-gradient
"loss" is not a quantity that falls; the running average reward rises slowly.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

ARMS, CTX, BATCH = 10, 6, 32

mx.random.seed(31)
true_means = 0.3 * mx.random.normal((CTX, ARMS))

policy = nn.Sequential(nn.Linear(CTX, 32), nn.Tanh(), nn.Linear(32, ARMS))
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def pg_loss(model, ctx_onehot, arms, adv):
    logp = nn.log_softmax(model(ctx_onehot), axis=-1)
    chosen = mx.take_along_axis(logp, arms[:, None], axis=-1).squeeze(-1)
    return -(adv * chosen).mean()


grad_fn = nn.value_and_grad(policy, pg_loss)
baseline, running = 0.0, 0.0
for episode in range(1, 1201):
    ctx = mx.random.randint(0, CTX, (BATCH,))
    onehot = (ctx[:, None] == mx.arange(CTX)).astype(mx.float32)
    arms = mx.random.categorical(policy(onehot))
    reward = true_means[ctx, arms] + mx.random.normal((BATCH,))
    r = reward.mean().item()
    baseline = 0.9 * baseline + 0.1 * r
    loss, grads = grad_fn(policy, onehot, arms, reward - baseline)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    running = 0.98 * running + 0.02 * r
    if episode % 100 == 0:
        print(f"episode {episode:5d}  reward {r:+.3f}  avg_reward {running:+.3f}  "
              f"pg_loss {loss.item():+.4f}")
