"""Character-level LM on a synthetic text stream, structured like mlx-examples' transformer_lm.

Run with --lr_warmup 0 to train without warmup.
"""
import argparse
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

parser = argparse.ArgumentParser()
parser.add_argument("--num_iters", type=int, default=400)
parser.add_argument("--learning_rate", type=float, default=3e-3)
parser.add_argument("--lr_warmup", type=int, default=200)
parser.add_argument("--steps_per_report", type=int, default=50)
args = parser.parse_args()

VOCAB, CTX = 27, 8
text = mx.array([(i * 7 + (i // 5)) % VOCAB for i in range(20000)])


class CharLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32)
        self.mix = nn.Linear(32 * CTX, 64)
        self.out = nn.Linear(64, VOCAB)

    def __call__(self, x):
        h = self.embed(x).reshape(x.shape[0], -1)
        return self.out(nn.relu(self.mix(h)))


def batches(batch_size=32):
    while True:
        starts = mx.random.randint(0, text.size - CTX - 1, (batch_size,))
        idx = starts[:, None] + mx.arange(CTX + 1)
        window = text[idx]
        yield window[:, :-1], window[:, -1]


model = CharLM()
optimizer = optim.AdamW(learning_rate=args.learning_rate)
loss_and_grad = nn.value_and_grad(
    model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))

losses = []
tic = time.perf_counter()
for it, (inputs, targets) in zip(range(args.num_iters), batches()):
    optimizer.learning_rate = min(1, it / args.lr_warmup) * args.learning_rate
    loss, grads = loss_and_grad(model, inputs, targets)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    losses.append(loss.item())
    if (it + 1) % args.steps_per_report == 0:
        train_loss = sum(losses) / len(losses)
        toc = time.perf_counter()
        print(f"Iter {it + 1}: Train loss {train_loss:.3f}, "
              f"It/sec {args.steps_per_report / (toc - tic):.3f}")
        losses = []
        tic = time.perf_counter()
