"""Modern (continuous) Hopfield retrieval layer trained to clean up corrupted
8x8 binary glyphs. Stored patterns are a learned matrix, the inverse
temperature is a learned log-scalar. AdaGrad. Silent during training except a
heartbeat dot every 50 steps; prints a bit-error table before/after at the end."""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D, K_GLYPHS, K_SLOTS = 64, 10, 16
STEPS = 2500
LEVELS = [0.05, 0.15, 0.25, 0.35]
rng = np.random.default_rng(5)
GLYPHS = np.where(rng.random((K_GLYPHS, D)) < 0.5, -1.0, 1.0).astype(np.float32)


def corrupt(batch, p):
    idx = rng.integers(0, K_GLYPHS, batch)
    clean = GLYPHS[idx]
    flip = rng.random(clean.shape) < p
    return mx.array(np.where(flip, -clean, clean)), mx.array(clean)


class HopfieldDenoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = nn.Linear(D, D, bias=False)
        self.memory = mx.random.normal((K_SLOTS, D)) * 0.1
        self.log_beta = mx.array(0.0)
        self.readout = nn.Linear(D, D)

    def __call__(self, x):
        q = self.query(x)
        att = mx.softmax(mx.exp(self.log_beta) * (q @ self.memory.T) / np.sqrt(D), axis=-1)
        return mx.tanh(self.readout(att @ self.memory))


def loss_fn(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def bit_error(model, p, n=512):
    x, y = corrupt(n, p)
    return mx.mean(mx.sign(model(x)) != y).item(), mx.mean(x != y).item()


def main():
    mx.random.seed(5)
    model = HopfieldDenoiser()
    before = [bit_error(model, p)[0] for p in LEVELS]
    opt = optim.Adagrad(learning_rate=0.05)
    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    losses = []
    for step in range(1, STEPS + 1):
        p = LEVELS[rng.integers(len(LEVELS))]
        x, y = corrupt(64, p)
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        if step % 50 == 0:
            sys.stdout.write("."); sys.stdout.flush()
    print()
    print(f"trained {STEPS} steps in {time.time() - t0:.1f}s; mse first100={np.mean(losses[:100]):.4f} "
          f"last100={np.mean(losses[-100:]):.4f}; beta={float(mx.exp(model.log_beta).item()):.2f}")
    print("flip_p | input_BER | BER_before | BER_after")
    for p, b in zip(LEVELS, before):
        after, inp = bit_error(model, p)
        print(f"{p:6.2f} | {inp:9.3f} | {b:10.3f} | {after:9.3f}")


if __name__ == "__main__":
    main()
