"""Fletcher's bench: classify arrow shafts from a 1-D spine-tester deflection trace.

Four classes: 0 = matched spine, 1 = weak spine, 2 = stiff spine, 3 = cracked shaft.
Stage A trains a small float Conv1d net and writes a checkpoint.
Stage B rebuilds the same net with DoReFa quantisation (3-bit weights, 4-bit
activations, straight-through rounding), resumes from the float checkpoint and
fine-tunes with a fresh Adam whose learning rate warms up from exactly 0.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
T = 64
N_TRAIN, N_TEST = 2400, 800
W_BITS, A_BITS = 3, 4

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_traces(n):
    y = rng.integers(0, 4, size=n)
    t = np.linspace(0.0, 1.0, T)
    freq = np.where(y == 1, 2.2, np.where(y == 2, 3.6, 2.9)) + rng.normal(0, 0.12, n)
    damp = np.where(y == 1, 2.5, np.where(y == 2, 4.5, 3.4)) + rng.normal(0, 0.3, n)
    amp = rng.uniform(0.8, 1.2, n)
    x = amp[:, None] * np.exp(-damp[:, None] * t) * np.sin(2 * np.pi * freq[:, None] * t)
    crack = y == 3
    kink_at = rng.integers(18, 46, size=n)
    for i in np.where(crack)[0]:
        k = kink_at[i]
        x[i, k:] *= 0.55
        x[i, k : k + 3] += rng.choice([-0.5, 0.5])
    x += rng.normal(0, 0.06, x.shape)
    return x.astype(np.float32)[:, :, None], y.astype(np.int32)


xtr, ytr = make_traces(N_TRAIN)
xte, yte = make_traces(N_TEST)
Xtr, Ytr, Xte, Yte = map(mx.array, (xtr, ytr, xte, yte))
majority = float(np.mean(yte == np.bincount(ytr).argmax()))


def ste_round(x):
    return x + mx.stop_gradient(mx.round(x) - x)


def dorefa_weight(w, k):
    levels = 2**k - 1
    t = mx.tanh(w)
    t = t / (2 * mx.max(mx.abs(t))) + 0.5
    return 2 * (ste_round(t * levels) / levels) - 1


def dorefa_act(x, k):
    levels = 2**k - 1
    return ste_round(mx.clip(x, 0.0, 1.0) * levels) / levels


class SpineNet(nn.Module):
    def __init__(self, quant=False):
        super().__init__()
        self.quant = quant
        self.c1 = nn.Conv1d(1, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, stride=2, padding=2)
        self.c3 = nn.Conv1d(32, 32, kernel_size=3, stride=2, padding=1)
        self.head = nn.Linear(32, 4)

    def _conv(self, layer, x, stride, pad):
        if not self.quant:
            return layer(x)
        w = dorefa_weight(layer.weight, W_BITS)
        return mx.conv1d(x, w, stride=stride, padding=pad) + layer.bias

    def _act(self, x):
        x = nn.relu(x)
        return dorefa_act(x, A_BITS) if self.quant else x

    def __call__(self, x):
        x = self._act(self._conv(self.c1, x, 1, 2))
        x = self._act(self._conv(self.c2, x, 2, 2))
        x = self._act(self._conv(self.c3, x, 2, 1))
        return self.head(mx.mean(x, axis=1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y))


def weight_codes(model):
    codes = []
    for layer in (model.c1, model.c2, model.c3):
        t = mx.tanh(layer.weight)
        t = t / (2 * mx.max(mx.abs(t))) + 0.5
        codes.append(mx.round(t * (2**W_BITS - 1)).reshape(-1))
    return mx.concatenate(codes)


def run_epochs(model, opt, epochs, batch, tag, report_codes=False):
    step_fn = nn.value_and_grad(model, loss_fn)
    prev = weight_codes(model) if report_codes else None
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(N_TRAIN))
        tot, nb = 0.0, 0
        for i in range(0, N_TRAIN, batch):
            idx = perm[i : i + batch]
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        line = f"[{tag}] epoch {ep:2d} train_loss {tot / nb:.4f} test_acc {accuracy(model, Xte, Yte):.3f} lr {opt.learning_rate.item():.2e}"
        if report_codes:
            cur = weight_codes(model)
            flipped = float(mx.mean(cur != prev))
            line += f" codes_changed {flipped:.4f}"
            prev = cur
        print(line, flush=True)


t0 = time.time()
print(f"traces train={N_TRAIN} test={N_TEST}  majority-class baseline acc {majority:.3f}")

# Stage A: float training, then checkpoint
float_net = SpineNet(quant=False)
mx.eval(float_net.parameters())
opt_a = optim.Adam(learning_rate=3e-3)
run_epochs(float_net, opt_a, epochs=5, batch=64, tag="float")
float_acc = accuracy(float_net, Xte, Yte)
ckpt = os.path.join(tempfile.mkdtemp(), "spine_float.safetensors")
float_net.save_weights(ckpt)
print(f"checkpoint written ({os.path.getsize(ckpt)} bytes) float test acc {float_acc:.3f}")

# Stage B: resume into a DoReFa-quantised copy
q_net = SpineNet(quant=True)
q_net.load_weights(ckpt)
mx.eval(q_net.parameters())
print(f"resumed into {W_BITS}-bit/{A_BITS}-bit net: test acc before fine-tune {accuracy(q_net, Xte, Yte):.3f}"
      f" loss {loss_fn(q_net, Xte, Yte).item():.4f}")
steps_per_epoch = (N_TRAIN + 63) // 64
warm = optim.linear_schedule(0.0, 2e-3, steps=steps_per_epoch)
decay = optim.cosine_decay(2e-3, steps_per_epoch * 6, end=1e-5)
opt_b = optim.Adam(learning_rate=optim.join_schedules([warm, decay], [steps_per_epoch]))
run_epochs(q_net, opt_b, epochs=7, batch=64, tag="qat", report_codes=True)

q_acc = accuracy(q_net, Xte, Yte)
print(f"summary: majority {majority:.3f} | float {float_acc:.3f} | dorefa w{W_BITS}a{A_BITS} {q_acc:.3f}"
      f" | gap {float_acc - q_acc:+.3f}")
print(f"done in {time.time() - t0:.1f}s")
