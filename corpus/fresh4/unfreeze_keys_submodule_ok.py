"""Transfer learning: freeze a 'pretrained' encoder and train only the classifier head.

Prints a small table every 25 steps.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)


class Classifier(nn.Module):
    def __init__(self, d_in=16, d_hid=48, n_cls=3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, d_hid), nn.GELU(), nn.Linear(d_hid, d_hid))
        self.head = nn.Linear(d_hid, n_cls)

    def __call__(self, x):
        return self.head(nn.gelu(self.encoder(x)))


def make_batch(n=96):
    x = mx.random.normal((n, 16))
    y = (x[:, 0] > 0).astype(mx.int32) + (x[:, 1] > 0.5).astype(mx.int32)
    return x, y


model = Classifier()
model.freeze()
model.head.unfreeze()

opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
print(f"{'step':>6} | {'loss':>8} | {'acc':>6}")
print("-" * 26)
for step in range(1, 301):
    x, y = make_batch()
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        acc = (mx.argmax(model(x), axis=1) == y).mean().item()
        print(f"{step:>6} | {loss.item():>8.4f} | {acc:>6.3f}")
