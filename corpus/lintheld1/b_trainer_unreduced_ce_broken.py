import argparse
import time

import mlx.core as mx
import mlx.nn as mnn
import mlx.optimizers as optim


class Policy(mnn.Module):
    """Small action classifier: observation -> logits over actions."""

    def __init__(self, obs_dim, n_actions, width=32):
        super().__init__()
        self.body = mnn.Sequential(mnn.Linear(obs_dim, width), mnn.Tanh(),
                                   mnn.Linear(width, width), mnn.Tanh())
        self.logits = mnn.Linear(width, n_actions)

    def __call__(self, obs):
        return self.logits(self.body(obs))


class Trainer:
    def __init__(self, policy, lr):
        self.policy = policy
        self.opt = optim.Adam(learning_rate=lr)
        self._step_fn = mnn.value_and_grad(self.policy, self.objective)

    def objective(self, obs, actions):
        logits = self.policy(obs)
        return mnn.losses.cross_entropy(logits, actions)

    def step(self, obs, actions):
        loss, grads = self._step_fn(obs, actions)
        self.opt.update(self.policy, grads)
        mx.eval(self.policy.parameters(), self.opt.state)
        return loss

    def accuracy(self, obs, actions):
        return (self.policy(obs).argmax(-1) == actions).mean().item()


def expert_dataset(n, obs_dim, n_actions):
    obs = mx.random.normal((n, obs_dim))
    proj = mx.random.normal((obs_dim, n_actions))
    actions = mx.argmax(obs @ proj, axis=-1)
    return obs, actions


def main():
    p = argparse.ArgumentParser(description="behaviour cloning")
    p.add_argument("--obs-dim", type=int, default=10)
    p.add_argument("--actions", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--max-updates", type=int, default=200)
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()

    mx.random.seed(1)
    obs, actions = expert_dataset(4096, args.obs_dim, args.actions)
    trainer = Trainer(Policy(args.obs_dim, args.actions), args.lr)
    print(f"initial acc {trainer.accuracy(obs, actions):.3f}")

    t0 = time.time()
    updates = 0
    while updates < args.max_updates:
        perm = mx.random.permutation(obs.shape[0])
        for i in range(0, obs.shape[0], args.batch):
            idx = perm[i:i + args.batch]
            loss = trainer.step(obs[idx], actions[idx])
            updates += 1
            if updates % 50 == 0:
                print(f"update {updates} loss {loss.mean().item():.4f}")
            if updates >= args.max_updates:
                break
    print(f"final acc {trainer.accuracy(obs, actions):.3f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
