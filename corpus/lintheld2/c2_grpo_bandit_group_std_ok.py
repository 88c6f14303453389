# GRPO-style policy-gradient on a contextual bandit: for every context we sample a group
# of actions, score them, and normalise the rewards inside the group.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_CTX, D_CTX, N_ACT, GROUP = 16, 8, 4, 8


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D_CTX, 32), nn.Tanh(), nn.Linear(32, N_ACT))

    def __call__(self, ctx):
        return self.body(ctx)


class GRPOLearner:
    def __init__(self, lr=0.01):
        self.policy = Policy()
        self.opt = optim.Adam(learning_rate=lr)

    def group_advantages(self, rewards):
        # rewards: (n_ctx, group)
        mu = rewards.mean(axis=1, keepdims=True)
        sigma = rewards.std(axis=1, keepdims=True)
        return (rewards - mu) / (sigma + 1e-4)

    def surrogate(self, params, ctx, actions, adv):
        self.policy.update(params)
        logp = nn.log_softmax(self.policy(ctx), axis=-1)           # (n_ctx, n_act)
        logp_a = mx.take_along_axis(logp, actions, axis=1)          # (n_ctx, group)
        return -(logp_a * adv).mean()

    def step(self, ctx, best_action):
        logits = self.policy(ctx)
        actions = mx.random.categorical(logits[:, None, :], shape=(N_CTX, GROUP), axis=-1)
        rewards = (actions == best_action[:, None]).astype(mx.float32)
        adv = self.group_advantages(rewards)
        grads = mx.grad(self.surrogate)(self.policy.trainable_parameters(), ctx, actions, adv)
        self.opt.update(self.policy, grads)
        mx.eval(self.policy.parameters(), self.opt.state)
        return rewards.mean().item()


def main():
    mx.random.seed(11)
    ctx = mx.random.normal((N_CTX, D_CTX))
    best = mx.random.randint(0, N_ACT, (N_CTX,))
    learner = GRPOLearner()
    t0 = time.time()
    it = 0
    while it < 150:
        r = learner.step(ctx, best)
        if it % 25 == 0:
            greedy = (mx.argmax(learner.policy(ctx), axis=-1) == best).mean().item()
            w = learner.policy.body.layers[0].weight
            print(f"iter {it:3d}  mean reward {r:.3f}  greedy acc {greedy:.3f}  w finite {mx.isfinite(w).all().item()}")
        it += 1
    greedy = (mx.argmax(learner.policy(ctx), axis=-1) == best).mean().item()
    print(f"final greedy acc {greedy:.3f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
