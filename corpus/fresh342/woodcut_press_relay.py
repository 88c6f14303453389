"""Feed-forward (Johnson-style) transfer network trained in two stages, with a
checkpoint written and reloaded between two process-like "sessions".

Stage A (reconstruction): the transfer net learns to reproduce its input.
Stage B (stylise): a Gram style term is switched on, so the logged objective
jumps up at the stage boundary; the learning rate follows cosine cycles with
warm restarts.  Halfway through stage B the weights and optimizer state are
saved to disk, every object is rebuilt from scratch and training resumes from
the file.  The loss network is a frozen random conv net.
"""
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SIDE = 16
N_TRAIN, N_HELD = 64, 16
BATCH = 8
STAGE_A = 80
STAGE_B = 240
CYCLE = 80
RESUME_AT = STAGE_A + 120
STYLE_W = 2000.0
CONTENT_W = 10.0


def scenes(n, seed):
    key = mx.random.key(seed)
    k1, k2, k3, k4 = mx.random.split(key, 4)
    ys = mx.linspace(0, 1, SIDE)[None, :, None]
    xs = mx.linspace(0, 1, SIDE)[None, None, :]
    base = mx.random.uniform(0.2, 0.8, (n, 1, 1, 3), key=k1)
    tilt = mx.random.uniform(-0.4, 0.4, (n, 1, 1, 2), key=k2)
    grad = tilt[..., 0:1] * ys[..., None] + tilt[..., 1:2] * xs[..., None]
    centre = mx.random.uniform(0.25, 0.75, (n, 1, 1, 2), key=k3)
    blob = ((ys[..., None] - centre[..., 0:1]) ** 2 + (xs[..., None] - centre[..., 1:2]) ** 2) < 0.04
    colour = mx.random.uniform(0, 1, (n, 1, 1, 3), key=k4)
    img = base + grad
    img = mx.where(blob, colour, img)
    return mx.clip(img, 0, 1)


def style_plate():
    ys = mx.arange(SIDE)[:, None].astype(mx.float32)
    xs = mx.arange(SIDE)[None, :].astype(mx.float32)
    ink = (mx.sin(1.3 * xs + 0.7 * ys) > 0.2).astype(mx.float32)
    paper = mx.array([0.93, 0.88, 0.75])
    red = mx.array([0.7, 0.12, 0.1])
    return (paper * (1 - ink[..., None]) + red * ink[..., None])[None]


class LossNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 12, 3, padding=1)
        self.c2 = nn.Conv2d(12, 16, 3, padding=1)
        self.pool = nn.AvgPool2d(2, 2)

    def __call__(self, x):
        f1 = nn.relu(self.c1(x))
        f2 = nn.relu(self.c2(self.pool(f1)))
        return f1, f2


class TransferNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(3, 12, 3, padding=1)
        self.enc2 = nn.Conv2d(12, 16, 3, stride=2, padding=1)
        self.res = [nn.Conv2d(16, 16, 3, padding=1) for _ in range(2)]
        self.norm = [nn.InstanceNorm(16) for _ in range(2)]
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec = nn.Conv2d(16, 12, 3, padding=1)
        self.out = nn.Conv2d(12, 3, 3, padding=1)

    def __call__(self, x):
        h = nn.relu(self.enc1(x))
        h = nn.relu(self.enc2(h))
        for conv, norm in zip(self.res, self.norm):
            h = h + nn.relu(norm(conv(h)))
        h = nn.relu(self.dec(self.up(h)))
        return mx.sigmoid(self.out(h) + 2.0 * (x - 0.5))


def gram(f):
    b, h, w, c = f.shape
    f = f.reshape(b, h * w, c)
    return (f.transpose(0, 2, 1) @ f) / (h * w)


mx.random.seed(11)
lossnet = LossNet()
lossnet.freeze()
train_x = scenes(N_TRAIN, 1)
held_x = scenes(N_HELD, 2)
plate_grams = [mx.stop_gradient(gram(f)) for f in lossnet(style_plate())]


def terms(out, x):
    fo, fx = lossnet(out), lossnet(x)
    content = mx.mean((fo[1] - mx.stop_gradient(fx[1])) ** 2)
    style = sum(mx.mean((gram(f) - g) ** 2) for f, g in zip(fo, plate_grams))
    return content, style


def objective(model, x, sw):
    c, s = terms(model(x), x)
    return CONTENT_W * c + sw * s, (c, s)


def schedule_b():
    return optim.join_schedules(
        [optim.cosine_decay(4e-3, CYCLE, end=1e-4) for _ in range(STAGE_B // CYCLE)],
        [CYCLE * i for i in range(1, STAGE_B // CYCLE)],
    )


def build():
    mx.random.seed(3)
    net = TransferNet()
    return net


def evaluate(net, sw):
    c, s = terms(net(held_x), held_x)
    return c.item(), s.item()


def batch_at(step):
    idx = mx.array([(step * BATCH + j) % N_TRAIN for j in range(BATCH)])
    return train_x[idx]


ckpt_dir = tempfile.mkdtemp(prefix="relay_")
w_path = os.path.join(ckpt_dir, "net.safetensors")
o_path = os.path.join(ckpt_dir, "opt.safetensors")

_, s_identity = terms(held_x, held_x)
print(f"held-out baselines: style distance of untouched inputs {s_identity.item():.3e}")

t0 = time.time()
net = build()
print(f"transfer net params {sum(v.size for _, v in tree_flatten(net.trainable_parameters()))}")

# ---- stage A: reconstruction only ----
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(net, objective)
for step in range(STAGE_A):
    (loss, (c, s)), g = step_fn(net, batch_at(step), 0.0)
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state)
    if step % 20 == 0 or step == STAGE_A - 1:
        print(f"[A] step {step:4d} loss {loss.item():.4f} content {c.item():.3e} style {s.item():.3e}")
c_a, s_a = evaluate(net, 0.0)
print(f"[A] held-out content {c_a:.3e} style {s_a:.3e}")

# ---- stage B: stylise, cosine cycles with restarts ----
opt = optim.Adam(learning_rate=schedule_b())
step_fn = nn.value_and_grad(net, objective)
step = STAGE_A
while step < STAGE_A + STAGE_B:
    if step == RESUME_AT:
        mx.save_safetensors(w_path, dict(tree_flatten(net.parameters())))
        mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
        print(f"[B] checkpoint at step {step} -> {os.path.basename(w_path)}, {os.path.basename(o_path)}; rebuilding")
        del net, opt, step_fn
        net = build()
        net.load_weights(w_path)
        opt = optim.Adam(learning_rate=schedule_b())
        opt.state = tree_unflatten(list(mx.load(o_path).items()))
        step_fn = nn.value_and_grad(net, objective)
        c_r, s_r = evaluate(net, STYLE_W)
        print(f"[B] resumed at opt step {opt.step.item()} lr {opt.learning_rate.item():.2e}; held-out style {s_r:.3e}")
    (loss, (c, s)), g = step_fn(net, batch_at(step), STYLE_W)
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state)
    if (step - STAGE_A) % 30 == 0 or step == STAGE_A + STAGE_B - 1:
        print(f"[B] step {step:4d} lr {opt.learning_rate.item():.2e} loss {loss.item():.4f} "
              f"content {c.item():.3e} style {s.item():.3e}")
    step += 1

c_b, s_b = evaluate(net, STYLE_W)
print(f"held-out: style {s_b:.3e} vs untouched inputs {s_identity.item():.3e} ({s_identity.item() / s_b:.1f}x closer to the plate)")
print(f"held-out: content {c_b:.3e} vs after stage A {c_a:.3e} (allowed to grow: the style term trades it away)")
print(f"wall {time.time() - t0:.1f}s")
assert s_b < 0.5 * s_identity.item()
shutil.rmtree(ckpt_dir)
print("done")
