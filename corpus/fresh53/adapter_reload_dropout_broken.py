"""Fine-tune LoRA adapters on a frozen MLP, save the adapters, reload them
into a fresh copy of the model and score the held-out split again."""
import logging
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s | %(message)s")
log = logging.getLogger("lora-ft")


class LoRALinear(nn.Module):
    def __init__(self, d_in, d_out, rank=4, scale=2.0, dropout=0.5):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.dropout = nn.Dropout(p=dropout)
        self.scale = scale
        bound = 1.0 / np.sqrt(d_in)
        self.lora_a = mx.random.uniform(-bound, bound, (d_in, rank))
        self.lora_b = mx.zeros((rank, d_out))

    def __call__(self, x):
        y = self.linear(x)
        z = (self.dropout(x) @ self.lora_a) @ self.lora_b
        return y + self.scale * z


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = LoRALinear(16, 256)
        self.fc2 = LoRALinear(256, 8, rank=8)

    def __call__(self, x):
        return self.fc2(nn.relu(self.fc1(x)))


def build_model():
    mx.random.seed(0)  # same frozen base weights every time
    m = Net()
    m.freeze()
    m.unfreeze(keys=["lora_a", "lora_b"], strict=False)
    return m


def make_data(rng, n):
    centers = rng.normal(0, 1.0, size=(8, 16))
    y = rng.integers(0, 8, size=n)
    x = centers[y] + rng.normal(0, 1.1, size=(n, 16))
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).mean().item()


def main():
    rng = np.random.default_rng(7)
    xs, ys = make_data(rng, 12400)
    x_tr, y_tr, x_va, y_va = xs[:12000], ys[:12000], xs[12000:], ys[12000:]

    model = build_model()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("trainable params: %d", n_train)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    opt = optim.Adam(learning_rate=1e-2)

    log.info("%5s | %10s | %8s", "epoch", "train_loss", "val_acc")
    for epoch in range(1, 16):
        model.train()
        perm = mx.array(rng.permutation(12000))
        tot = 0.0
        for i in range(0, 12000, 100):
            idx = perm[i:i + 100]
            loss, grads = step(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        model.eval()
        log.info("%5d | %10.4f | %8.3f", epoch, tot / 120, accuracy(model, x_va, y_va))

    final_acc = accuracy(model, x_va, y_va)
    ref_logits = model(x_va)

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "adapters.safetensors")
        mx.save_safetensors(path, dict(tree_flatten(model.trainable_parameters())))
        reloaded = build_model()
        reloaded.load_weights(path, strict=False)
        mx.eval(reloaded.parameters())

    acc_a = accuracy(reloaded, x_va, y_va)
    acc_b = accuracy(reloaded, x_va, y_va)
    max_diff = mx.abs(reloaded(x_va) - ref_logits).max().item()
    log.info("val_acc in-session=%.3f  reloaded(pass1)=%.3f  reloaded(pass2)=%.3f",
             final_acc, acc_a, acc_b)
    log.info("reload check: max |logit diff| vs in-session model = %.4f", max_diff)


if __name__ == "__main__":
    main()
