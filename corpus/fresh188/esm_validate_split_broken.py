# Tiny ESM-style masked protein language model, trained with a Trainer class
# (train() then validate()), SGD with momentum and a compiled step.
import math
import random
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

AMINO = "ACDEFGHIKLMNPQRSTVWY"
MASK_ID = len(AMINO)
VOCAB = len(AMINO) + 1


def set_seed(seed):
  random.seed(seed)
  mx.random.seed(seed)


def make_family(n, length, rng):
  # Markov chain "protein family": each residue strongly predicts the next.
  nxt = [rng.randrange(len(AMINO)) for _ in AMINO]
  seqs = []
  for _ in range(n):
    s = [rng.randrange(len(AMINO))]
    for _ in range(length - 1):
      s.append(nxt[s[-1]] if rng.random() < 0.85 else rng.randrange(len(AMINO)))
    seqs.append(s)
  return seqs


class Loader:
  def __init__(self, batch_size, length, mask_rate):
    rng = random.Random(7)
    data = make_family(1200, length, rng)
    self.splits = {"train": data[:1000], "validate": data[1000:]}
    self.batch_size = batch_size
    self.mask_rate = mask_rate

  def next_batch(self, split):
    batch = random.sample(self.splits[split], self.batch_size)
    y = mx.array(batch)
    m = mx.random.uniform(shape=y.shape) < self.mask_rate
    x = mx.where(m, MASK_ID, y)
    return x, y


class ESM1(nn.Module):
  def __init__(self, dims=48, heads=4, length=24):
    super().__init__()
    self.embed = nn.Embedding(VOCAB, dims)
    self.pos = mx.random.normal((length, dims)) * 0.02
    self.layer = nn.TransformerEncoderLayer(dims, heads, mlp_dims=2 * dims, dropout=0.0)
    self.norm = nn.LayerNorm(dims)
    self.head = nn.Linear(dims, len(AMINO))

  def __call__(self, x):
    h = self.embed(x) + self.pos
    h = self.layer(h, None)
    return self.head(self.norm(h))


class Trainer:
  def __init__(self, max_iters=300, lr=0.05):
    self.model = ESM1()
    self.loader = Loader(batch_size=32, length=24, mask_rate=0.15)
    self.max_iters = max_iters
    self.lr = lr
    self.losses = {"train": [], "validate": []}
    self.optimizer = optim.SGD(learning_rate=lr, momentum=0.8)

  def train(self, max_iters=None):
    return self.run("train", max_iters or self.max_iters)

  def validate(self, max_iters=None):
    return self.run("train", max_iters or int(self.max_iters * 0.1))

  def run(self, split, max_iters):
    model = self.model
    optimizer = self.optimizer
    if split == "train":
      model.train()
      desc = "training"
    else:
      model.eval()
      desc = "validating"
    mx.eval(model.parameters())

    def loss_fn(model, x, targets):
      return mx.mean(nn.losses.cross_entropy(model(x), targets))

    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
      loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
      if split == "train":
        optimizer.update(model, grads)
      return loss

    t0 = time.time()
    avg = float("nan")
    for it in range(1, max_iters + 1):
      x, y = self.loader.next_batch(split)
      loss = step(x, y)
      mx.eval(state, loss)
      avg = self.avg_loss(split, loss.item())
      if it % 25 == 0 or it == max_iters:
        print(f"{desc}: {it}/{max_iters} [{time.time() - t0:.1f}s, loss={avg:.4f}]")
    return avg

  def avg_loss(self, split, loss, bucket_size=1000):
    losses = self.losses[split]
    losses.append(loss)
    window = losses[-bucket_size:]
    return sum(window) / len(window)


if __name__ == "__main__":
  set_seed(0)
  trainer = Trainer()
  print(f"uniform baseline loss = {math.log(len(AMINO)):.4f}")
  train_loss = trainer.train()
  val_loss = trainer.validate()
  print(f"done: train_loss={train_loss:.4f} val_loss={val_loss:.4f}")
