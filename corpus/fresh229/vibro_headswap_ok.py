# Two-stage vibration classifier: pretrain a small conv front-end on pump fault
# types, save it, then reload the front-end and fine-tune a new head for a
# bearing-wear task with the front-end frozen.
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
T = 48


def make_signals(n, task, key):
    k1, k2, k3 = mx.random.split(key, 3)
    t = mx.arange(T).astype(mx.float32)[None, :, None]
    if task == "fault":
        y = mx.random.randint(0, 4, (n,), key=k1)
        freq = (0.15 + 0.12 * y.astype(mx.float32))[:, None, None]
        amp = mx.ones((n, 1, 1))
    else:
        y = mx.random.randint(0, 3, (n,), key=k1)
        freq = mx.full((n, 1, 1), 0.3)
        amp = (0.4 + 0.6 * y.astype(mx.float32))[:, None, None]
    phase = mx.random.uniform(0, 6.28, (n, 1, 3), key=k2)
    x = amp * mx.sin(freq * t * mx.array([1.0, 2.0, 3.0]) + phase)
    x = x + 0.8 * mx.random.normal(x.shape, key=k3)
    return x, y


class Frontend(nn.Module):
    def __init__(self):
        super().__init__()
        self.up_conv = nn.Conv1d(3, 16, kernel_size=3)
        self.mix = nn.Conv1d(16, 24, kernel_size=5)

    def __call__(self, x):
        h = nn.gelu(self.up_conv(x))
        h = nn.gelu(self.mix(h))
        return mx.concatenate([h.mean(axis=1), (h * h).mean(axis=1)], axis=-1)


class Net(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.frontend = Frontend()
        self.head = nn.Linear(48, n_out)

    def __call__(self, x):
        return self.head(self.frontend(x))


def sanitize(weights):
    # checkpoints may come from the PyTorch reference implementation
    out = {}
    for k, v in weights.items():
        if (
            any(name in k for name in ["up_conv", "down_conv", "depth_conv"])
            and "weight" in k
            and len(v.shape) == 3
        ):
            if v.shape[-1] > v.shape[-2]:
                v = v.transpose(0, 2, 1)
        out[k] = v
    return out


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=-1) == y).astype(mx.float32).mean().item()


t0 = time.time()
key = mx.random.key(11)
ka, kb, kc, kd = mx.random.split(key, 4)
xa, ya = make_signals(512, "fault", ka)
xa_val, ya_val = make_signals(256, "fault", kb)
xb, yb = make_signals(384, "wear", kc)
xb_val, yb_val = make_signals(256, "wear", kd)

# ---- stage 1: pretrain on fault types
model = Net(4)
opt = optim.Adam(learning_rate=3e-3)
step = nn.value_and_grad(model, loss_fn)
for it in range(1, 201):
    idx = mx.random.randint(0, 512, (64,))
    loss, grads = step(model, xa[idx], ya[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        print(f"[pretrain] it={it:3d} xent={loss.item():.4f} val_acc={100*accuracy(model, xa_val, ya_val):.1f}%")
saved_acc = accuracy(model, xa_val, ya_val)
ckpt = os.path.join(tempfile.mkdtemp(), "frontend.safetensors")
mx.save_safetensors(ckpt, dict(tree_flatten(model.parameters())))
print(f"[pretrain] saved {ckpt} (fault val_acc {100*saved_acc:.1f}%)")

# ---- stage 2: reload through the loader, audit, swap head, fine-tune
weights = sanitize(mx.load(ckpt))
reloaded = Net(4)
reloaded.load_weights(list(weights.items()), strict=True)
mx.eval(reloaded.parameters())
print(f"[reload] fault val_acc {100*accuracy(reloaded, xa_val, ya_val):.1f}% (at save {100*saved_acc:.1f}%)")

ft = Net(3)
ft.load_weights([(k, v) for k, v in weights.items() if k.startswith("frontend.")], strict=False)
ft.frontend.freeze()
opt2 = optim.Adam(learning_rate=1e-2)
step2 = nn.value_and_grad(ft, loss_fn)
for ep in range(1, 9):
    perm = mx.random.permutation(384)
    tot = 0.0
    for b in range(0, 384, 48):
        idx = perm[b:b + 48]
        loss, grads = step2(ft, xb[idx], yb[idx])
        opt2.update(ft, grads)
        mx.eval(ft.parameters(), opt2.state, loss)
        tot += loss.item()
    print(f"[finetune] epoch {ep} mean_xent {tot/8:.4f} wear val_acc {100*accuracy(ft, xb_val, yb_val):.1f}%")
print(f"done in {time.time()-t0:.1f}s")
