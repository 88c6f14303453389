"""Pretrain an encoder on an auxiliary regression task, save it, then fine-tune a
small classification head on top of the frozen encoder with a modest labelled set."""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
IN, HID, Z = 32, 64, 8
PROJ = mx.random.normal((IN, Z)) / IN ** 0.5 * 3.0


def latent(x):
    return mx.sin(x @ PROJ)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(IN, HID), nn.Linear(HID, HID)]

    def __call__(self, x):
        for layer in self.layers:
            x = mx.tanh(layer(x))
        return x


class PretrainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.proj = nn.Linear(HID, Z)

    def __call__(self, x):
        return self.proj(self.encoder(x))


# ---- stage 1: pretraining on plenty of unlabelled data (auxiliary targets)
pre = PretrainNet()
popt = optim.Adam(learning_rate=3e-3)
pgrad = nn.value_and_grad(pre, lambda m, x, t: nn.losses.mse_loss(m(x), t))
for it in range(1500):
    x = mx.random.normal((256, IN))
    l, g = pgrad(pre, x, latent(x))
    popt.update(pre, g)
    mx.eval(pre.parameters(), popt.state)
print(f"pretrain done, aux mse {l.item():.4f}")
ckpt = os.path.join(tempfile.mkdtemp(), "pretrain.safetensors")
pre.save_weights(ckpt)

# ---- stage 2: fine-tune a head on 2000 labelled examples, encoder frozen
encoder = Encoder()
encoder.load_weights(ckpt, strict=False)
encoder.freeze()


def labels_of(x):
    z = latent(x)
    return mx.argmax(mx.stack([z[:, 0] + z[:, 1], z[:, 2] - z[:, 3],
                               z[:, 4] * 2, -z[:, 5] - z[:, 6]], axis=1), axis=1)


xtr = mx.random.normal((2000, IN)); ytr = labels_of(xtr)
xva = mx.random.normal((1000, IN)); yva = labels_of(xva)


class Classifier(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.head = nn.Linear(HID, 4)

    def __call__(self, x):
        return self.head(self.enc(x))


clf = Classifier(encoder)
opt = optim.AdamW(learning_rate=1e-2, weight_decay=1e-3)
step_fn = nn.value_and_grad(
    clf, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for epoch in range(1, 31):
    perm = mx.random.permutation(2000)
    tot = 0.0
    for i in range(0, 2000, 100):
        idx = perm[i:i + 100]
        loss, grads = step_fn(clf, xtr[idx], ytr[idx])
        opt.update(clf, grads)
        mx.eval(clf.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch == 1 or epoch % 5 == 0:
        acc = (mx.argmax(clf(xva), axis=1) == yva).mean().item()
        print(f"epoch {epoch:02d}  train_ce {tot / 20:.4f}  val_acc {acc:.3f}")
