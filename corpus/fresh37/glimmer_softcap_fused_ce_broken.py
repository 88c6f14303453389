# Tiny "Glimmer-style" classifier: the forward is
#   logits = cap * tanh(head(h) * output_multiplier / cap)
# Training uses a hand-written "fused" cross-entropy that rebuilds the logits
# from the hidden states and the head weight (saves materialising logits twice).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N_CLASSES, D_IN, D_H = 48, 32, 64
CAP, OUT_MULT = 15.0, 0.2


class Glimmer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D_IN, D_H)
        self.mid = nn.Linear(D_H, D_H)
        self.norm = nn.LayerNorm(D_H)
        self.head = nn.Linear(D_H, N_CLASSES, bias=False)
        # muP-ish: wide head, tamed by the output multiplier
        self.head.weight = mx.random.normal((N_CLASSES, D_H)) * 8.0
        self.output_multiplier = OUT_MULT
        self.cap = CAP

    def hidden(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.norm(h)

    def __call__(self, x):
        z = self.head(self.hidden(x)) * self.output_multiplier
        return self.cap * mx.tanh(z / self.cap)


def fused_ce(model, x, y):
    h = model.hidden(x)
    z = h @ model.head.weight.T
    logits = model.cap * mx.tanh(z / model.cap)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


# synthetic data: class prototypes + noise
protos = mx.random.normal((N_CLASSES, D_IN))
def make(n):
    y = mx.random.randint(0, N_CLASSES, (n,))
    x = protos[y] + 0.8 * mx.random.normal((n, D_IN))
    return x, y

xtr, ytr = make(6000)
xva, yva = make(1000)

model = Glimmer()
# the head and final norm come from the "pretrained" base and stay frozen;
# only the trunk is fine-tuned
model.head.freeze()
model.norm.freeze()
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
step_fn = nn.value_and_grad(model, fused_ce)

t0 = time.time()
bs = 128
step = 0
for epoch in range(1, 13):
    perm = mx.random.permutation(xtr.shape[0])
    run = 0.0
    nb = 0
    for i in range(0, xtr.shape[0] - bs + 1, bs):
        idx = perm[i:i + bs]
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        nb += 1
        step += 1
    logits = model(xva)
    vloss = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    acc = (mx.argmax(logits, axis=1) == yva).mean().item()
    print(f"epoch {epoch:2d} | step {step:4d} | train_ce {run / nb:.4f} | val_ce {vloss:.4f} | val_acc {acc:.3f} | {time.time() - t0:.1f}s")
