"""Matching-network style regression: a query's target is predicted as an
attention-weighted average of the support set's targets (sharp kernel)."""
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass
class MNConfig:
    dim_in: int = 12
    dim_emb: int = 16
    temperature: float = 0.05
    n_support: int = 64
    n_query: int = 32
    steps: int = 150
    lr: float = 2e-3


class Embedder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(cfg.dim_in, 32), nn.ReLU(), nn.Linear(32, cfg.dim_emb))

    def __call__(self, x):
        return self.mlp(x)


class MatchingRegressor:
    def __init__(self, cfg):
        self.cfg = cfg
        self.embedder = Embedder(cfg)
        self.opt = optim.AdamW(learning_rate=cfg.lr)
        self._vg = nn.value_and_grad(self.embedder, self.episode_loss)

    def predict(self, xs, ys, xq):
        sim = (self.embedder(xq) @ self.embedder(xs).T) / self.cfg.temperature
        w = mx.exp(sim - sim.max(axis=1, keepdims=True))
        w = w / w.sum(axis=1, keepdims=True)
        return w @ ys

    def episode_loss(self, xs, ys, xq, yq):
        return nn.losses.mse_loss(self.predict(xs, ys, xq), yq)

    def step(self, *episode):
        loss, grads = self._vg(*episode)
        self.opt.update(self.embedder, grads)
        mx.eval(self.embedder.parameters(), self.opt.state, loss)
        return loss.item()


def sample_episode(cfg, proj):
    x = mx.random.normal((cfg.n_support + cfg.n_query, cfg.dim_in)) * 2.0
    y = mx.tanh(x @ proj)
    return x[:cfg.n_support], y[:cfg.n_support], x[cfg.n_support:], y[cfg.n_support:]


def main():
    cfg = MNConfig()
    mx.random.seed(5)
    proj = mx.random.normal((cfg.dim_in, 1)) / cfg.dim_in ** 0.5
    learner = MatchingRegressor(cfg)
    history = [learner.step(*sample_episode(cfg, proj)) for _ in range(cfg.steps)]
    for s in range(0, cfg.steps, 25):
        window = history[s:s + 25]
        print(f"steps {s:3d}-{s + len(window) - 1:3d} mean episode mse {sum(window) / len(window):.4f}")
    bad = [i for i, v in enumerate(history) if v != v]
    print(f"last mse {history[-1]:.4f}; first nan step: {bad[0] if bad else None}")


if __name__ == "__main__":
    main()
