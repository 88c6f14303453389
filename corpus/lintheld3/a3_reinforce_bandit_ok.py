"""REINFORCE on a contextual bandit: the agent sees a context vector and must
pick the arm whose context entry is largest (reward 1, else 0)."""
import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Adam
from mlx.utils import tree_flatten

N_ARMS = 3


class Policy(nn.Module):
    def __init__(self, d_ctx=5, hidden=16):
        super().__init__()
        self.l1 = nn.Linear(d_ctx, hidden)
        self.l2 = nn.Linear(hidden, N_ARMS)

    def __call__(self, ctx):
        return self.l2(nn.relu(self.l1(ctx)))


class Agent:
    def __init__(self, lr=1e-2):
        self.policy = Policy()
        self.opt = Adam(learning_rate=lr)
        self.baseline = 0.0

    def rollout(self, batch=64):
        ctx = mx.random.normal((batch, 5))
        logits = self.policy(ctx)
        actions = mx.random.categorical(logits)
        logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        logp = mx.take_along_axis(logp_all, actions[:, None], axis=-1).squeeze(-1)
        reward = (actions == mx.argmax(ctx[:, :N_ARMS], axis=-1)).astype(mx.float32)
        return ctx, actions, logp, reward

    def update(self, ctx, actions, logp, reward):
        adv = reward - self.baseline

        def pg_loss(policy):
            logits = policy(ctx)
            lp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
            lp = mx.take_along_axis(lp_all, actions[:, None], axis=-1).squeeze(-1)
            return -mx.mean(lp * adv)

        loss, grads = nn.value_and_grad(self.policy, pg_loss)(self.policy)
        self.opt.update(self.policy, grads)
        mx.eval(self.policy.parameters(), self.opt.state, loss)
        self.baseline = 0.9 * self.baseline + 0.1 * reward.mean().item()
        return grads


def main():
    mx.random.seed(0)
    agent = Agent()
    w0 = agent.policy.l1.weight
    for it in range(300):
        ctx, actions, logp, reward = agent.rollout()
        grads = agent.update(ctx, actions, logp, reward)
        if it % 50 == 0 or it == 299:
            gnorm = sum(mx.sum(g * g).item() for _, g in tree_flatten(grads)) ** 0.5
            print(f"iter {it:3d} mean reward {reward.mean().item():.3f} grad-norm {gnorm:.4f}")
    print("l1 weight moved by", mx.max(mx.abs(agent.policy.l1.weight - w0)).item())


if __name__ == "__main__":
    main()
