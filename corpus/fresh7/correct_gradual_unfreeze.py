"""Transfer learning with gradual unfreezing: a 'pretrained' encoder is frozen
for the first stage (only the new head trains), then the top encoder layer is
unfrozen, then the whole encoder, each stage with a smaller learning rate."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
D, H, C = 16, 48, 4


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Linear(D, H)
        self.enc2 = nn.Linear(H, H)
        self.head = nn.Linear(H, C)

    def features(self, x):
        return nn.relu(self.enc2(nn.relu(self.enc1(x))))

    def __call__(self, x):
        return self.head(self.features(x))


def make_data(n, proj):
    x = mx.random.normal((n, D))
    y = mx.argmax(mx.tanh(x @ proj) + 0.1 * mx.random.normal((n, C)), axis=1)
    return x, y


# "pretraining" on a related source task
src_proj = mx.random.normal((D, C))
tgt_proj = src_proj + 0.6 * mx.random.normal((D, C))
model = Net()
pre_opt = optim.Adam(learning_rate=3e-3)
xs, ys = make_data(2048, src_proj)
pre_step = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for i in range(300):
    idx = mx.random.randint(0, 2048, (64,))
    l, g = pre_step(model, xs[idx], ys[idx])
    pre_opt.update(model, g)
    mx.eval(model.parameters(), pre_opt.state)
model.head = nn.Linear(H, C)  # new task head

xt, yt = make_data(1024, tgt_proj)
xv, yv = make_data(512, tgt_proj)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


stages = [("head only", ["enc1", "enc2"], 3e-3, 8), ("top layer", ["enc1"], 1e-3, 8), ("all", [], 3e-4, 8)]
epoch = 0
print(f"{'epoch':>5} | {'stage':<9} | {'trainable':>9} | {'train_ce':>8} | {'val_acc':>7}")
for name, frozen, lr, n_ep in stages:
    model.unfreeze()
    for k in frozen:
        getattr(model, k).freeze()
    opt = optim.Adam(learning_rate=lr)
    step = nn.value_and_grad(model, loss_fn)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    for _ in range(n_ep):
        perm = mx.random.permutation(1024)
        tot = 0.0
        for i in range(0, 1024, 32):
            idx = perm[i:i + 32]
            l, g = step(model, xt[idx], yt[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, l)
            tot += l.item()
        acc = (mx.argmax(model(xv), axis=1) == yv).mean().item()
        print(f"{epoch:>5} | {name:<9} | {n_train:>9} | {tot / 32:8.4f} | {acc:7.3f}")
        epoch += 1
