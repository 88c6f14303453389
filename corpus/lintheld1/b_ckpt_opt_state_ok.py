"""1-D conv classifier with periodic checkpoints (weights + optimizer state)
so that a preempted job can resume."""
import os
import shutil
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten


class ConvNet(nn.Module):
    def __init__(self, n_cls=3):
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(8, 8, kernel_size=5, padding=2)
        self.fc = nn.Linear(8, n_cls)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        return self.fc(h.mean(axis=1))


def signals(n, length=32, seed=0):
    mx.random.seed(seed)
    cls = mx.random.randint(0, 3, (n,))
    t = mx.arange(length).astype(mx.float32)
    freq = (cls.astype(mx.float32) + 1.0)[:, None] * 0.2
    x = mx.sin(freq * t[None, :]) + 0.3 * mx.random.normal((n, length))
    return x[..., None], cls


def save_checkpoint(ckpt_dir, step, net, opt):
    net.save_weights(os.path.join(ckpt_dir, f"weights_{step:05d}.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, f"optim_{step:05d}.safetensors"), dict(tree_flatten(opt.state)))


def load_optimizer_state(ckpt_dir, step):
    flat = mx.load(os.path.join(ckpt_dir, f"optim_{step:05d}.safetensors"))
    return tree_unflatten(list(flat.items()))


def main():
    X, Y = signals(1024)
    net = ConvNet()
    opt = optim.AdamW(learning_rate=1e-2)
    loss_grad = nn.value_and_grad(net, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
    ckpt_dir = tempfile.mkdtemp(prefix="convnet_ckpt_")
    step, save_every, total = 0, 40, 120
    while step < total:
        i = (step * 64) % X.shape[0]
        loss, grads = loss_grad(net, X[i:i + 64], Y[i:i + 64])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)
        step += 1
        if step % save_every == 0:
            save_checkpoint(ckpt_dir, step, net, opt)
            print(f"step {step} loss {loss.item():.4f} -> checkpoint saved")

    restored = load_optimizer_state(ckpt_dir, total)
    live = dict(tree_flatten(opt.state))
    same = all(mx.array_equal(v, live[k]).item() for k, v in tree_flatten(restored))
    acc = (net(X).argmax(-1) == Y).mean().item()
    print(f"acc {acc:.3f}; optimizer state round-trips: {same}; files: {sorted(os.listdir(ckpt_dir))[:2]}")
    shutil.rmtree(ckpt_dir)


if __name__ == "__main__":
    main()
