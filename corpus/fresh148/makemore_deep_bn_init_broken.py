# Character-level name model, makemore part 3 style: a deep MLP with a
# hand-written BatchNorm1d after every linear layer, trained with plain SGD.
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
mx.random.seed(7)

# ---- tiny synthetic "names" corpus -------------------------------------
ONSETS = ["b", "d", "k", "l", "m", "n", "r", "s", "t", "v", "z", "sh", "th"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ia"]
CODAS = ["", "", "n", "l", "r", "s", "x"]


def make_name():
    n_syl = random.choice([2, 2, 3])
    parts = []
    for i in range(n_syl):
        parts.append(random.choice(ONSETS) + random.choice(VOWELS))
    return "".join(parts) + random.choice(CODAS)


names = [make_name() for _ in range(3000)]
chars = sorted(set("".join(names)))
stoi = {c: i + 1 for i, c in enumerate(chars)}
stoi["."] = 0
itos = {i: c for c, i in stoi.items()}
vocab_size = len(stoi)
block_size = 3


def build_dataset(words):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return mx.array(X), mx.array(Y)


random.shuffle(names)
n1 = int(0.8 * len(names))
n2 = int(0.9 * len(names))
Xtr, Ytr = build_dataset(names[:n1])
Xdev, Ydev = build_dataset(names[n1:n2])
Xte, Yte = build_dataset(names[n2:])
print(f"vocab {vocab_size}  train {Xtr.shape[0]}  dev {Xdev.shape[0]}  test {Xte.shape[0]}")


# ---- layers ---------------------------------------------------------------
class CustomLinear(nn.Module):
    def __init__(self, fan_in, fan_out, bias=True):
        super().__init__()
        self.weight = mx.random.uniform(0.0, 1.0, (fan_in, fan_out)) / fan_in**0.5
        if bias:
            self.bias = mx.zeros((fan_out,))

    def __call__(self, x):
        out = x @ self.weight
        if "bias" in self:
            out = out + self.bias
        return out


class BatchNorm1d(nn.Module):
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        # parameters
        self.gamma = mx.zeros((dim,))
        self.beta = mx.ones((dim,))
        # buffers
        self.running_mean = mx.zeros((dim,))
        self.running_var = mx.ones((dim,))
        self.freeze(keys=["running_mean", "running_var"], recurse=False)

    def __call__(self, x):
        if self.training:
            xmean = x.mean(axis=0, keepdims=True)
            xvar = x.var(axis=0, keepdims=True)
        else:
            xmean = self.running_mean
            xvar = self.running_var
        xhat = (x - xmean) / mx.sqrt(xvar + self.eps)
        out = self.gamma * xhat + self.beta
        if self.training:
            m = self.momentum
            self.running_mean = mx.stop_gradient((1 - m) * self.running_mean + m * xmean[0])
            self.running_var = mx.stop_gradient((1 - m) * self.running_var + m * xvar[0])
        return out


class MLPv2(nn.Module):
    def __init__(self, n_embd=10, n_hidden=48):
        super().__init__()
        self.C = mx.random.normal((vocab_size, n_embd))
        dims = [n_embd * block_size] + [n_hidden] * 5 + [vocab_size]
        self.linears = [CustomLinear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.norms = [BatchNorm1d(b) for b in dims[1:]]
        for lin in self.linears:
            lin.weight = lin.weight * (5 / 3)
        self.norms[-1].gamma = self.norms[-1].gamma * 0.1

    def __call__(self, idx):
        x = self.C[idx].reshape(idx.shape[0], -1)
        for i, (lin, bn) in enumerate(zip(self.linears, self.norms)):
            x = bn(lin(x))
            if i < len(self.linears) - 1:
                x = mx.tanh(x)
        return x


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = MLPv2()
mx.eval(model.parameters())

loss_and_grad = nn.value_and_grad(model, loss_fn)
optimizer = optim.SGD(learning_rate=0.5)

max_steps = 1500
batch_size = 64
t0 = time.time()
print("MLPv2 training...")
print(f"MLPv2 Initial Loss: {loss_fn(model, Xtr, Ytr).item():.4f}")
for step in range(max_steps):
    ix = mx.random.randint(0, Xtr.shape[0], (batch_size,))
    optimizer.learning_rate = 0.5 if step < 1200 else 0.05
    loss, grads = loss_and_grad(model, Xtr[ix], Ytr[ix])
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    if step % 150 == 0 or step == max_steps - 1:
        print(f"MLPv2 Epoch {step + 1}/{max_steps} Loss: {loss.item():.4f}, Learning Rate: {optimizer.learning_rate.item():g}")

model.eval()
for split, (X, Y) in {"train": (Xtr, Ytr), "dev": (Xdev, Ydev), "test": (Xte, Yte)}.items():
    print(f"{split} loss {loss_fn(model, X, Y).item():.4f}")

# sample a few names
samples = []
for _ in range(8):
    out, context = [], [0] * block_size
    while len(out) < 20:
        logits = model(mx.array([context]))
        ix = mx.random.categorical(logits).item()
        context = context[1:] + [ix]
        if ix == 0:
            break
        out.append(itos[ix])
    samples.append("".join(out))
print("samples:", " ".join(samples))
print(f"done in {time.time() - t0:.1f}s")
