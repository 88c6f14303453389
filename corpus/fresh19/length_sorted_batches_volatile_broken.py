"""Bag-of-tokens sequence classifier; batches built like a LoRA trainer."""
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
mx.random.seed(0)
V, C, B = 50, 3, 16

def make_example():
    c = random.randrange(C)
    # longer sequences are more often class 2, short ones class 0
    L = random.randint(4, 12) + 8 * c
    toks = [random.randrange(V) for _ in range(L)]
    for i in range(0, L, 6):
        toks[i] = 10 * c + random.randrange(14)
    return toks, c

train = [make_example() for _ in range(1600)]
test = [make_example() for _ in range(400)]

def featurize(batch):
    x = [[0.0] * V for _ in batch]
    for r, (toks, _) in enumerate(batch):
        for t in toks:
            x[r][t] += 1.0 / len(toks)
    return mx.array(x), mx.array([c for _, c in batch])

def iterate_batches(data):
    idx = sorted(range(len(data)), key=lambda i: len(data[i][0]))
    batch_idx = [idx[i:i + B] for i in range(0, len(idx) - B + 1, B)]
    random.shuffle(batch_idx)
    for b in batch_idx:
        yield featurize([data[i] for i in b])

model = nn.Sequential(nn.Linear(V, 32), nn.ReLU(), nn.Linear(32, C))
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.1, momentum=0.9)
vg = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
Xte, yte = featurize(test)

for epoch in range(1, 13):
    losses = []
    for x, y in iterate_batches(train):
        loss, g = vg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        losses.append(loss.item())
    m = sum(losses) / len(losses)
    sd = (sum((l - m) ** 2 for l in losses) / len(losses)) ** 0.5
    acc = (mx.argmax(model(Xte), axis=1) == yte).mean().item()
    print(f"epoch {epoch} | train_loss {m:.4f} (std {sd:.4f}) | test_acc {acc:.3f}")
