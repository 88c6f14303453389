"""Curriculum: a GRU learns the sum of a sequence, and the sequence
length doubles every stage, so the mse jumps up at each stage change before falling again."""
import json

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2)


class Summer(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.rnn = nn.GRU(1, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        return self.out(self.rnn(x)[:, -1, :]).squeeze(-1)


model = Summer()
opt = optim.Adam(learning_rate=3e-3)


def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)


vg = nn.value_and_grad(model, mse)
step = 0
for stage, length in enumerate([3, 6, 12]):
    for _ in range(120):
        x = mx.random.uniform(-1, 1, (64, length, 1))
        y = x.sum(axis=(1, 2)) / 3.0
        loss, g = vg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step % 20 == 0:
            print(json.dumps({"step": step, "stage": stage, "seq_len": length,
                              "mse": round(loss.item(), 5)}))
