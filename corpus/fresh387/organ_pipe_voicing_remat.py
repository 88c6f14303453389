# Organ builder's voicing bench: predict the cut-up adjustment (mm) a flue pipe
# needs from bench readings. Residual blocks recompute their activations in the
# backward pass through an mx.custom_function whose vjp re-runs the block.
# Heteroscedastic Gaussian NLL (goes negative once fitted). Run in two sessions
# with a checkpoint between them.
import os, json, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(5)
def make(n):
    X = rng.normal(size=(n, 5)).astype(np.float32)
    mean = 0.8 * X[:, 0] - 0.5 * X[:, 1] * X[:, 2] + 0.4 * np.sin(2 * X[:, 3])
    sd = 0.05 + 0.15 * (X[:, 4] > 0)
    y = mean + sd * rng.normal(size=n)
    return mx.array(X), mx.array(y.astype(np.float32))
Xtr, ytr = make(8000); Xva, yva = make(2000)

def block_fn(x, w1, b1, w2, b2):
    return x + nn.gelu(x @ w1 + b1) @ w2 + b2

@mx.custom_function
def remat_block(x, w1, b1, w2, b2):
    return block_fn(x, w1, b1, w2, b2)

@remat_block.vjp
def remat_block_vjp(primals, cotangent, output):
    _, grads = mx.vjp(block_fn, list(primals), [cotangent])
    return tuple(grads)

class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.w1 = mx.random.normal((d, h)) * (1 / d) ** 0.5
        self.b1 = mx.zeros((h,))
        self.w2 = mx.random.normal((h, d)) * 0.1 * (1 / h) ** 0.5
        self.b2 = mx.zeros((d,))
    def __call__(self, x):
        return remat_block(x, self.w1, self.b1, self.w2, self.b2)

class VoicingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(5, 32)
        self.blocks = [Block(32, 64) for _ in range(4)]
        self.head = nn.Linear(32, 2)
    def __call__(self, x):
        h = self.stem(x)
        for b in self.blocks:
            h = b(h)
        out = self.head(h)
        return out[:, 0], mx.clip(out[:, 1], -6, 3)

def nll(model, x, y):
    m, logv = model(x)
    return 0.5 * (logv + mx.square(y - m) / mx.exp(logv) + np.log(2 * np.pi)).mean()

def build():
    mx.random.seed(0)
    model = VoicingNet()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 100),
                                  optim.cosine_decay(2e-3, 900, 1e-4)], [100])
    return model, optim.Adam(learning_rate=sched)

def make_step(model, opt):
    lg = nn.value_and_grad(model, nll)
    from functools import partial
    @partial(mx.compile, inputs=[model.state, opt.state], outputs=[model.state, opt.state])
    def step(x, y):
        loss, g = lg(model, x, y)
        opt.update(model, g)
        return loss
    return step

model, opt = build()
# recomputing vjp must agree with plain autodiff
args = [mx.random.normal((7, 32))] + [getattr(model.blocks[0], k) for k in ("w1", "b1", "w2", "b2")]
ga = mx.grad(lambda *a: remat_block(*a).sum(), argnums=(0, 1, 2, 3, 4))(*args)
gb = mx.grad(lambda *a: block_fn(*a).sum(), argnums=(0, 1, 2, 3, 4))(*args)
print("remat vjp check: max diff", max(mx.abs(a - b).max().item() for a, b in zip(ga, gb)))
print("exact-model NLL floor on valid (nats):",
      round(float(np.mean(0.5 * np.log(2 * np.pi * (0.05 + 0.15 * (np.array(Xva[:, 4]) > 0)) ** 2) + 0.5)), 4))

def run(model, opt, start, stop, tag):
    step = make_step(model, opt)
    rs = np.random.default_rng(start)
    win = []
    for it in range(start, stop):
        idx = mx.array(rs.integers(0, 8000, 128))
        lr = opt.learning_rate.item()
        loss = step(Xtr[idx], ytr[idx]); mx.eval(model.state, opt.state, loss)
        win.append(loss.item())
        if (it + 1) % 125 == 0:
            v = nll(model, Xva, yva).item()
            print(f"[{tag}] step {it + 1:5d}  lr {lr:.2e}  train nll {np.mean(win):+.4f}  valid nll {v:+.4f}")
            win = []

t0 = time.time()
run(model, opt, 0, 500, "session-1")
ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "w.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
json.dump({"step": 500}, open(os.path.join(ck, "meta.json"), "w"))
v_before = nll(model, Xva, yva).item()
del model, opt
model, opt = build()
model.load_weights(os.path.join(ck, "w.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
print(f"resumed at step {json.load(open(os.path.join(ck, 'meta.json')))['step']}: valid nll {v_before:+.4f} -> {nll(model, Xva, yva).item():+.4f}, opt step {opt.step.item()}")
run(model, opt, 500, 1000, "session-2")
print(f"finished in {time.time() - t0:.1f}s")
