# makemore-style bigram "single layer MLP": one-hot(prev char) @ W -> softmax -> next char
# trained full-batch with plain SGD, like Karpathy's makemore part 1.
import random
import string
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
mx.random.seed(7)

# ---- a tiny made-up list of names from syllables -------------------------
onsets = ["b", "d", "k", "l", "m", "n", "r", "s", "t", "v", "z", "sh", "th", ""]
vowels = ["a", "e", "i", "o", "u", "ia", "ei", "y"]
codas = ["", "", "n", "l", "r", "s", "th", "x"]
names = []
for _ in range(1500):
    n_syl = random.choice([1, 2, 2, 3])
    nm = "".join(random.choice(onsets) + random.choice(vowels) + random.choice(codas) for _ in range(n_syl))
    names.append(nm)

chars = ["."] + list(string.ascii_lowercase)
stoi = {c: i for i, c in enumerate(chars)}
itos = {i: c for c, i in stoi.items()}
V = len(chars)


def pairs(words):
    xs, ys = [], []
    for w in words:
        seq = ["."] + list(w) + ["."]
        for a, b in zip(seq, seq[1:]):
            xs.append(stoi[a])
            ys.append(stoi[b])
    return mx.array(xs), mx.array(ys)


random.shuffle(names)
x_tr, y_tr = pairs(names[:1300])
x_dev, y_dev = pairs(names[1300:])
print(f"{len(names)} names, {x_tr.shape[0]} train bigrams, {x_dev.shape[0]} dev bigrams")


class SimpleMLP(nn.Module):
    def __init__(self, dimension):
        super().__init__()
        self.dimension = dimension
        self.weights = mx.random.normal((dimension, dimension))

    def __call__(self, x):
        x_enc = (x[:, None] == mx.arange(self.dimension)[None, :]).astype(mx.float32)
        logits = x_enc @ self.weights
        counts = mx.exp(logits)
        return counts / counts.sum(axis=1, keepdims=True)


def loss_fn(model, x, y):
    probability = model(x)
    return -mx.log(probability[mx.arange(x.shape[0]), y]).mean() + 0.01 * (model.weights ** 2).mean()


def nll(model, x, y):
    p = model(x)
    return -mx.log(p[mx.arange(x.shape[0]), y]).mean()


model = SimpleMLP(V)
optimizer = optim.SGD(learning_rate=50.0)
loss_and_grad = nn.value_and_grad(model, loss_fn)

print("SimMLP training...")
epochs = 200
for epoch in range(epochs):
    loss, grads = loss_and_grad(model, x_tr, y_tr)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    if epoch == 0 or (epoch + 1) % 20 == 0:
        print(f"SimMLP Epoch {epoch + 1}/{epochs}: loss at {loss.item():.4f}")

dev = nll(model, x_dev, y_dev).item()
print(f"dev nll {dev:.4f} (uniform would be {math.log(V):.4f})")

# sample a few names
out = []
for _ in range(8):
    idx, s = 0, ""
    while len(s) < 20:
        p = model(mx.array([idx]))
        idx = mx.random.categorical(mx.log(p[0])).item()
        if idx == 0:
            break
        s += itos[idx]
    out.append(s)
print("samples:", out)
