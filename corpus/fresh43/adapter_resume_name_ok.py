"""LoRA adapters on a small 'pretrained' MLP, trained in two sessions.

Session 1 fine-tunes the adapters and saves them (safetensors, temp dir).
Session 2 rebuilds the model, resumes the saved adapters and keeps training.
Logging goes through the `logging` module.
"""
import argparse
import logging
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("lora")

rng = np.random.default_rng(3)
D_IN, D_H, D_OUT = 16, 64, 4


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=4, scale=2.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.linear = base
        self.scale = scale
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_d), 1 / math.sqrt(in_d), (in_d, r))
        self.lora_b = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D_IN, D_H)
        self.l2 = nn.Linear(D_H, D_H)
        self.l3 = nn.Linear(D_H, D_OUT)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


def make_task(w_seed, n):
    g = np.random.default_rng(w_seed)
    W = g.normal(size=(D_IN, D_OUT))
    X = rng.normal(size=(n, D_IN)).astype(np.float32)
    y = np.argmax(np.tanh(X @ W) + 0.3 * np.sin(2 * X[:, :D_OUT]), axis=1)
    return mx.array(X), mx.array(y)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def fit(model, x, y, iters, lr, tag):
    opt = optim.Adam(learning_rate=lr)
    lg = nn.value_and_grad(model, loss_fn)
    window = []
    for it in range(1, iters + 1):
        idx = mx.array(rng.integers(0, x.shape[0], 128))
        loss, grads = lg(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        window.append(loss.item())
        if it % 200 == 0:
            log.info("%s iter=%d loss(avg200)=%.4f", tag, it, sum(window) / len(window))
            window = []


# ---------------------------------------------------------------- "pretraining"
mx.random.seed(0)
base = MLP()
Xa, ya = make_task(100, 4000)
fit(base, Xa, ya, 1000, 3e-3, "pretrain")
base_weights = dict(tree_flatten(base.parameters()))

Xb, yb = make_task(200, 4000)       # fine-tuning task
Xb_val, yb_val = make_task(200, 1000)


def build_lora_model():
    m = MLP()
    m.load_weights(list(base_weights.items()))
    m.freeze()
    for name in ("l1", "l2", "l3"):
        setattr(m, name, LoRALinear(getattr(m, name)))
    return m


def train_model(args, model):
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("trainable parameters: %d", n_train)

    # Resume training the given adapters.
    if args.resume_adapter_file is not None:
        log.info(f"Loading pretrained adapters from {args.resume_adapter_file}")
        model.load_weights(args.resume_adapter_file, strict=False)
        log.info("resumed: val acc=%.3f", accuracy(model, Xb_val, yb_val))

    fit(model, Xb, yb, args.iters, args.learning_rate, f"finetune[{args.session}]")
    mx.save_safetensors(args.adapter_file, dict(tree_flatten(model.trainable_parameters())))
    log.info("session %s: val acc=%.3f  (saved %s)", args.session,
             accuracy(model, Xb_val, yb_val), os.path.basename(args.adapter_file))


with tempfile.TemporaryDirectory() as tmp:
    adapter_file = os.path.join(tmp, "adapters.safetensors")
    log.info("base model on the new task: val acc=%.3f", accuracy(base, Xb_val, yb_val))

    args = argparse.Namespace(session=1, iters=1000, learning_rate=5e-3,
                              adapter_file=adapter_file, resume_adapter_file=None)
    train_model(args, build_lora_model())

    args = argparse.Namespace(session=2, iters=1000, learning_rate=2e-3,
                              adapter_file=adapter_file, resume_adapter_file=adapter_file)
    train_model(args, build_lora_model())
log.info("done")
