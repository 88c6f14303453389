"""Two-stage transfer: pretrain an encoder + regression head on task A, then freeze the
model, re-initialise the head (zero init) for a 3-class task B and fine-tune the head
together with the encoder's final LayerNorm."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
D = 12
W_true = mx.random.normal((D, 3))
XA = mx.random.normal((2000, D))
YA = mx.tanh(XA @ W_true)                      # task A: 3 regression targets
XB = mx.random.normal((1500, D))
YB = mx.argmax(XB @ W_true + 0.3 * mx.random.normal((1500, 3)), axis=1)   # task B labels


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 48)
        self.l2 = nn.Linear(48, 48)
        self.norm = nn.LayerNorm(48)

    def __call__(self, x):
        return self.norm(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.head = nn.Linear(48, 3)

    def __call__(self, x):
        return self.head(self.encoder(x))


model = Model()
mx.eval(model.parameters())

# ---- stage 1: pretrain on task A
opt = optim.AdamW(learning_rate=3e-3)
vg_a = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
for step in range(1, 301):
    idx = mx.random.randint(0, 2000, (64,))
    loss, g = vg_a(model, XA[idx], YA[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 100 == 0:
        print(f"[pretrain] step {step:4d}  mse {loss.item():.4f}")

# ---- stage 2: fine-tune on task B
model.freeze()
model.head.weight = mx.zeros((3, 48))
model.head.bias = mx.zeros((3,))
model.encoder.norm.unfreeze()

opt_b = optim.SGD(learning_rate=0.1, momentum=0.9)
vg_b = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
print("| epoch | xent   | acc   |")
print("|-------|--------|-------|")
for epoch in range(1, 11):
    perm = mx.random.permutation(1500)
    tot = 0.0
    for i in range(0, 1500, 100):
        idx = perm[i:i + 100]
        loss, g = vg_b(model, XB[idx], YB[idx])
        opt_b.update(model, g)
        mx.eval(model.parameters(), opt_b.state, loss)
        tot += loss.item()
    acc = mx.mean(mx.argmax(model(XB), axis=1) == YB).item()
    print(f"| {epoch:5d} | {tot / 15:.4f} | {acc:.3f} |")
