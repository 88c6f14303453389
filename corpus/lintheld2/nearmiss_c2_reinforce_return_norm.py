"""REINFORCE on a 1-step 'pick the right arm' task with batch-normalised returns.

Rewards are 0/1, so early batches are often all 0 and late batches all 1: the normaliser
must not divide by a zero standard deviation.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

EPS = 1e-6
N_ARMS, BATCH = 6, 16


def normalise(returns):
    mean = returns.mean()
    std = returns.std()
    std = mx.maximum(std, EPS)
    return (returns - mean) / std


def main():
    mx.random.seed(3)
    agent = nn.Linear(1, N_ARMS)              # state is a constant 1: logits = bias + weight
    opt = optim.SGD(learning_rate=0.2)
    good_arm = 4
    state = mx.ones((BATCH, 1))

    def pg_loss(pol, acts, adv):
        logp = nn.log_softmax(pol(state), axis=-1)
        return -(mx.take_along_axis(logp, acts[:, None], axis=-1).squeeze(-1) * adv).mean()

    grad_fn = nn.value_and_grad(agent, pg_loss)
    t0 = time.time()
    all_equal = 0
    for ep in range(300):
        acts = mx.random.categorical(agent(state))
        rewards = (acts == good_arm).astype(mx.float32)
        all_equal += int(rewards.std().item() == 0)
        adv = normalise(rewards)
        _, g = grad_fn(agent, acts, adv)
        opt.update(agent, g)
        mx.eval(agent.parameters())
        if ep % 75 == 0:
            print(f"episode batch {ep:3d}  mean reward {rewards.mean().item():.3f}")
    p = mx.softmax(agent(state[:1]), axis=-1)[0, good_arm].item()
    finite = all(mx.isfinite(v).all().item() for v in (agent.weight, agent.bias))
    print(f"P(good arm) {p:.3f}; params finite {finite}; batches with all-equal rewards {all_equal}"
          f"  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
