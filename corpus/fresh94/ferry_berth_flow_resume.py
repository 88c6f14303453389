"""Density model of where a ferry ends up when it berths.

Two readings per arrival: lateral offset from the berth centreline (m) and
heading error (deg). A small RealNVP-style flow (affine couplings, alternating
masks) is fitted by maximum likelihood. The run is split in two sessions the
way it is done on the harbour laptop: session 1 trains, writes a checkpoint
(weights + optimizer state) to a scratch folder and exits its scope; session 2
builds everything fresh, loads that checkpoint and carries on.
"""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

RNG = np.random.default_rng(94)
mx.random.seed(94)
LOG2PI = math.log(2 * math.pi)


def harbour_log(n):
    """Synthetic arrivals: two skippers' habits (port-side vs starboard-side
    approach) with wind-dependent banana-shaped spread."""
    side = RNG.random(n) < 0.6
    wind = RNG.normal(0.0, 1.0, n)
    offset = np.where(side, -1.2, 1.5) + 0.45 * wind + RNG.normal(0, 0.15, n)
    heading = np.where(side, 2.0, -3.0) + 0.9 * (offset - np.where(side, -1.2, 1.5)) ** 2 \
        + RNG.normal(0, 0.35, n)
    return np.stack([offset, heading], 1).astype(np.float32)


class Coupling(nn.Module):
    def __init__(self, flip, hidden=32):
        super().__init__()
        self.flip = flip
        self.l1 = nn.Linear(1, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.shift = nn.Linear(hidden, 1)
        self.scale = nn.Linear(hidden, 1)

    def __call__(self, z):
        a, b = (z[:, 1:], z[:, :1]) if self.flip else (z[:, :1], z[:, 1:])
        h = nn.silu(self.l2(nn.silu(self.l1(a))))
        s = 1.5 * mx.tanh(self.scale(h) / 1.5)
        b = b * mx.exp(s) + self.shift(h)
        out = mx.concatenate([b, a], 1) if self.flip else mx.concatenate([a, b], 1)
        return out, s[:, 0]


class Flow(nn.Module):
    def __init__(self, n_layers=6):
        super().__init__()
        self.layers = [Coupling(flip=bool(i % 2)) for i in range(n_layers)]

    def log_prob(self, x):
        z, logdet = x, mx.zeros((x.shape[0],))
        for layer in self.layers:
            z, s = layer(z)
            logdet = logdet + s
        base = -0.5 * (z * z).sum(1) - LOG2PI
        return base + logdet


def nll(model, x):
    return -model.log_prob(x).mean()


class Session:
    """One sitting at the laptop: a model, an optimizer and a step counter."""

    def __init__(self, name, lr=2e-3):
        self.name = name
        self.model = Flow()
        self.opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
        self.step = 0
        self.grad_fn = nn.value_and_grad(self.model, nll)

    def save(self, folder):
        self.model.save_weights(os.path.join(folder, "flow.safetensors"))
        flat = dict(tree_flatten(self.opt.state))
        mx.save_safetensors(os.path.join(folder, "opt.safetensors"), flat,
                            metadata={"step": str(self.step)})

    def load(self, folder):
        self.model.load_weights(os.path.join(folder, "flow.safetensors"), strict=True)
        flat, meta = mx.load(os.path.join(folder, "opt.safetensors"), return_metadata=True)
        self.opt.state = tree_unflatten(list(flat.items()))
        self.step = int(meta["step"])
        mx.eval(self.model.parameters(), self.opt.state)

    def train(self, data, val, n_steps, batch=256, every=200):
        t0 = time.perf_counter()
        window = []
        for _ in range(n_steps):
            idx = mx.array(RNG.integers(0, len(data), batch))
            loss, grads = self.grad_fn(self.model, data[idx])
            self.opt.update(self.model, grads)
            mx.eval(self.model.parameters(), self.opt.state, loss)
            window.append(loss.item())
            self.step += 1
            if self.step % every == 0:
                held = nll(self.model, val).item()
                print(f"{self.name:<9} step {self.step:>5}  nll/arrival(train,last {len(window)}) "
                      f"{np.mean(window):+.3f} nats  held-out {held:+.3f} nats  "
                      f"{time.perf_counter() - t0:5.1f}s")
                window = []


def main():
    train = mx.array(harbour_log(20000))
    val = mx.array(harbour_log(4000))
    mu, sd = train.mean(0), train.std(0)
    train, val = (train - mu) / sd, (val - mu) / sd
    log_sd = float(mx.log(sd).sum().item())
    print(f"arrivals: train {train.shape[0]}, held-out {val.shape[0]}; "
          f"nats are per arrival in standardised units (add {log_sd:+.3f} for metres x degrees)")
    print(f"reference: a single Gaussian fit scores {0.5 * 2 * (1 + LOG2PI):+.3f} nats")

    first = Session("session1")
    mx.eval(first.model.parameters())
    print(f"untrained held-out nll {nll(first.model, val).item():+.3f} nats")
    _, g = first.grad_fn(first.model, train[:256])
    leaves = tree_flatten(g)
    dead = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
    print(f"gradient check: {len(leaves)} leaves, zero-gradient leaves: {dead or 'none'}")

    first.train(train, val, 800)
    folder = tempfile.mkdtemp(prefix="ferry_ckpt_")
    first.save(folder)
    ref = nll(first.model, val).item()
    print(f"checkpoint written after step {first.step} to {os.path.basename(folder)}/ "
          f"(held-out {ref:+.3f})")
    del first

    second = Session("session2")
    second.load(folder)
    again = nll(second.model, val).item()
    print(f"session2 resumed at step {second.step} (optimizer step {second.opt.step.item()}): "
          f"held-out {again:+.3f} (matches checkpoint: {abs(again - ref) < 1e-5})")
    second.train(train, val, 800)
    final = nll(second.model, val).item()
    print(f"done: held-out nll {final:+.3f} nats per arrival "
          f"({final + log_sd:+.3f} in metres x degrees)")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
