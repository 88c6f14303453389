"""Behaviour-cloning a tiny policy on synthetic (state, action) pairs."""
import argparse
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import AdamW


class Policy(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 32):
        super().__init__()
        self.body = [nn.Linear(obs_dim, hidden), nn.Linear(hidden, hidden)]
        self.head = nn.Linear(hidden, act_dim)

    def __call__(self, obs):
        h = obs
        for layer in self.body:
            h = nn.gelu(layer(h))
        return mx.tanh(self.head(h))


class Trainer:
    def __init__(self, policy, lr):
        self.policy = policy
        self.opt = AdamW(learning_rate=lr, weight_decay=1e-4)
        self._vg = nn.value_and_grad(self.policy, self._objective)

    def _objective(self, policy, obs, act):
        return mx.mean(mx.sum((policy(obs) - act) ** 2, axis=-1))

    def step(self, obs, act):
        loss, grads = self._vg(self.policy, obs, act)
        self.opt.update(self.policy, grads)
        mx.eval(self.policy.parameters(), self.opt.state, loss)
        return loss


def make_demos(n, obs_dim, act_dim, key):
    k1, k2 = mx.random.split(key)
    expert = mx.random.normal((obs_dim, act_dim), key=k1) / obs_dim**0.5
    obs = mx.random.normal((n, obs_dim), key=k2)
    return obs, mx.tanh(obs @ expert)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args()

    mx.random.seed(0)
    obs, act = make_demos(2048, 12, 4, mx.random.key(1))
    policy = Policy(12, 4)
    mx.eval(policy.parameters())
    trainer = Trainer(policy, args.lr)

    tic = time.perf_counter()
    step = 0
    while step < args.steps:
        idx = mx.random.randint(0, obs.shape[0], (args.batch,))
        trainer.step(obs[idx], act[idx])
        step += 1
        if step % 500 == 0:
            print(f"step {step:5d}  {time.perf_counter() - tic:.2f}s", flush=True)

    final = trainer._objective(policy, obs, act)
    print(f"final behaviour-cloning loss {final.item():.4f}")


if __name__ == "__main__":
    main()
