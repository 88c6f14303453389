"""Classifier with heavy dropout (p=0.6) on inputs and hidden layer. The reported
training loss is measured with dropout on, so it stays noisy and well ABOVE the
validation loss (dropout off) for the whole run; that is expected."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(8)
C, D = 5, 20
W_true = mx.random.normal((D, C))
def sample(n):
    x = mx.random.normal((n, D))
    y = mx.argmax(x @ W_true + 0.5 * mx.random.normal((n, C)), axis=1)
    return x, y
xtr, ytr = sample(3000)
xva, yva = sample(800)
mx.eval(xtr, ytr, xva, yva)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop_in = nn.Dropout(0.3)
        self.fc1 = nn.Linear(D, 128)
        self.drop_h = nn.Dropout(0.6)
        self.fc2 = nn.Linear(128, C)

    def __call__(self, x):
        return self.fc2(self.drop_h(nn.relu(self.fc1(self.drop_in(x)))))


model = Net()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
vg = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))

for epoch in range(1, 26):
    model.train()
    perm = mx.random.permutation(xtr.shape[0])
    tl, nb = 0.0, 0
    for i in range(0, xtr.shape[0], 100):
        idx = perm[i:i + 100]
        loss, g = vg(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tl += loss.item(); nb += 1
    model.eval()
    logits = model(xva)
    vl = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, axis=1) == yva).item()
    print(f"epoch {epoch:02d}/25  train_ce(dropout on)={tl / nb:.4f}  val_ce={vl:.4f}  val_acc={acc:.3f}")
