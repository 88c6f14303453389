"""1-D neural cellular automaton that learns to grow a target pattern.

A row of 32 cells, each with a 12-channel state (channel 0 = visible
"ink").  Every NCA step each cell perceives (left, self, right) through a
fixed identity/gradient/laplacian filter bank, a tiny shared MLP proposes
a state delta, and a random ~50% of cells apply it (asynchronous update).
Training starts from a single seed cell, unrolls 20-28 steps (random per
iteration), and matches the ink channel to a target bar code.  Because
the update mask and rollout length are random, the loss is noisy and not
monotone.  Progress is shown as an ASCII rendering of a deterministic
rollout next to the target, every 50 iterations.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
W, C = 32, 12
TARGET = mx.array([1.0 if ((i // 3) % 3 != 2 and 4 <= i < 28) else 0.0 for i in range(W)])


def perceive(s):                        # s: (B, W, C)
    left = mx.concatenate([s[:, :1] * 0, s[:, :-1]], axis=1)
    right = mx.concatenate([s[:, 1:], s[:, :1] * 0], axis=1)
    return mx.concatenate([s, (right - left) / 2, left + right - 2 * s], axis=-1)


class NCA(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3 * C, 48)
        self.fc2 = nn.Linear(48, C)
        self.fc2.weight = self.fc2.weight * 0.1     # start near "do nothing"
        self.fc2.bias = mx.zeros((C,))

    def step(self, s, fire):
        ds = self.fc2(nn.relu(self.fc1(perceive(s))))
        return s + ds * fire

    def __call__(self, s, n_steps, p_fire=0.5, key_rng=True):
        for _ in range(n_steps):
            if key_rng:
                fire = (mx.random.uniform(shape=s.shape[:2] + (1,)) < p_fire).astype(s.dtype)
            else:
                fire = mx.full(s.shape[:2] + (1,), p_fire)
            s = mx.clip(self.step(s, fire), -3.0, 3.0)
        return s


def seed_state(batch):
    s = mx.zeros((batch, W, C))
    return s + mx.zeros((1, W, C)).at[0, W // 2, :].add(1.0)


def loss_fn(model, s0, n):
    out = model(s0, n)
    return mx.mean((mx.sigmoid(4 * out[..., 0]) - TARGET) ** 2)


def render(row):
    return "".join("#" if v > 0.5 else ("+" if v > 0.25 else ".") for v in row.tolist())


model = NCA()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)
print("target  " + render(TARGET))
t0 = time.time()
for it in range(1, 401):
    n = int(mx.random.randint(20, 29, ()).item())
    loss, grads = vg(model, seed_state(4), n)
    grads, gnorm = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0 or it == 1:
        final = mx.sigmoid(4 * model(seed_state(1), 24, p_fire=0.5, key_rng=False)[0, :, 0])
        err = mx.mean(mx.abs((final > 0.5).astype(mx.float32) - TARGET)).item()
        print(f"it {it:>3}  " + render(final) + f"  loss={loss.item():.4f} steps={n} "
              f"cell_err={err:.3f} |g|={gnorm.item():.3f} ({time.time() - t0:.0f}s)")
