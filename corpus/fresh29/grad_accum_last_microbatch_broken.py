"""Next-character model on the Zen of Python, trained with gradient
accumulation: ACCUMULATION_STEPS micro-batches per optimiser step."""
import codecs, math, time
import this  # noqa: F401  (prints the Zen once; we use its text as data)
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

TEXT = codecs.decode(this.s, "rot13") * 4
chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
DATA = np.array([stoi[c] for c in TEXT], dtype=np.int32)
VOCAB, CTX = len(chars), 6
ACCUMULATION_STEPS = 32
BATCH_SIZE = 4
ITERATIONS = 150

np.random.seed(1)
mx.random.seed(1)


class CharMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 24)
        self.l1 = nn.Linear(CTX * 24, 256)
        self.l2 = nn.Linear(256, VOCAB)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.l2(nn.relu(self.l1(h)))


def get_batch():
    idx = np.random.randint(0, len(DATA) - CTX - 1, BATCH_SIZE)
    x = np.stack([DATA[i:i + CTX] for i in idx])
    y = np.array([DATA[i + CTX] for i in idx])
    return mx.array(x), mx.array(y)


def loss_function(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = CharMLP()
optimizer = optim.SGD(learning_rate=0.5)
loss_and_gradient_function = nn.value_and_grad(model, loss_function)
state = [model.state, optimizer.state]


def step(x, y, accumulated_gradients, micro_step_num):
    loss, gradients = loss_and_gradient_function(model, x, y)
    accumulated_gradients = tree_map(lambda acc, new: acc + new, accumulated_gradients, gradients)

    if (micro_step_num + 1) % ACCUMULATION_STEPS == 0:
        accumulated_gradients = tree_map(lambda x: x / ACCUMULATION_STEPS, gradients)
        optimizer.update(model, accumulated_gradients)
        accumulated_gradients = tree_map(lambda x: mx.zeros_like(x), model.parameters())

    return loss, accumulated_gradients


print(f"\nvocab={VOCAB} chars={len(DATA)} uniform-loss={math.log(VOCAB):.4f}")
accumulated_gradients = tree_map(lambda x: mx.zeros_like(x), model.parameters())
t0 = time.time()
for step_num in range(ITERATIONS):
    total_loss = 0.0
    for micro_step_num in range(ACCUMULATION_STEPS):
        x, y = get_batch()
        loss, accumulated_gradients = step(x, y, accumulated_gradients, micro_step_num)
        mx.eval(state, accumulated_gradients)
        total_loss += loss.item()
    mean_loss = total_loss / ACCUMULATION_STEPS
    if step_num % 10 == 0 or step_num == ITERATIONS - 1:
        print(f"Step [{step_num}]\t\tTraining Loss [{mean_loss:.4f}]\t\tLR [{optimizer.learning_rate.item()}]\t\t[{time.time()-t0:.1f}s]")
