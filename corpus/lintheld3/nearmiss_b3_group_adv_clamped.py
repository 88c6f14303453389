"""Contextual bandit trained with group-normalised REINFORCE (GRPO-like advantages)."""
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass
class PGConfig:
    n_actions: int = 4
    ctx_dim: int = 6
    group: int = 8
    contexts_per_step: int = 16
    steps: int = 150
    lr: float = 2e-2
    min_std: float = 1e-4


def rollouts(policy, cfg, true_w):
    """Yields (contexts, actions, rewards) forever; rewards are 0/1 so groups are often all-equal."""
    while True:
        ctx = mx.random.normal((cfg.contexts_per_step, cfg.ctx_dim))
        logits = policy(ctx)
        acts = mx.random.categorical(mx.repeat(logits[:, None, :], cfg.group, axis=1))  # (C, G)
        best = mx.argmax(ctx @ true_w, axis=-1)
        rew = (acts == best[:, None]).astype(mx.float32)
        yield ctx, acts, rew


def group_advantages(rew, cfg):
    mu = rew.mean(axis=1, keepdims=True)
    sd = mx.sqrt(mx.mean(mx.square(rew - mu), axis=1, keepdims=True))
    return (rew - mu) / mx.maximum(sd, cfg.min_std)


def pg_loss(policy, ctx, acts, adv):
    logp = nn.log_softmax(policy(ctx), axis=-1)                       # (C, A)
    logp_a = mx.take_along_axis(logp, acts, axis=-1)                  # (C, G)
    return -mx.mean(adv * logp_a)


def main(cfg=PGConfig()):
    mx.random.seed(13)
    true_w = mx.random.normal((cfg.ctx_dim, cfg.n_actions))
    policy = nn.Linear(cfg.ctx_dim, cfg.n_actions)
    opt = optim.Adam(learning_rate=cfg.lr)
    grad_fn = nn.value_and_grad(policy, pg_loss)
    stream = rollouts(policy, cfg, true_w)
    for step in range(cfg.steps):
        ctx, acts, rew = next(stream)
        adv = group_advantages(rew, cfg)
        loss, grads = grad_fn(policy, ctx, acts, adv)
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss)
        if step % 30 == 0 or step == cfg.steps - 1:
            flat = int(((rew.max(axis=1) - rew.min(axis=1)) == 0).sum().item())
            print(f"step {step:3d} mean reward {rew.mean().item():.3f} "
                  f"({flat}/{cfg.contexts_per_step} groups all-equal) loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
