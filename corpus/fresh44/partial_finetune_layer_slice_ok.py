"""Two-stage run: pretrain a small residual MLP on task A, then fully fine-tune only its
top `num_layers` blocks on a related task B (lower blocks must stay exactly as pretrained).

Prints a plain-text table per stage and a closing drift report.
"""
import time
from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

args = SimpleNamespace(num_layers=1, fine_tune_type="full", pre_steps=500, ft_steps=500,
                       batch_size=64, lr=1e-3)

DIM, HID, N_CLS, N_BLOCKS = 16, 96, 4, 4
rng = np.random.default_rng(21)
W_A = rng.normal(size=(DIM, N_CLS))
W_B = W_A + 0.8 * rng.normal(size=(DIM, N_CLS))   # task B: related but shifted decision rule


def batch(task, n):
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    w = W_A if task == "A" else W_B
    y = np.argmax(np.tanh(x) @ w, axis=1)
    return mx.array(x), mx.array(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(HID)
        self.fc1 = nn.Linear(HID, HID)
        self.fc2 = nn.Linear(HID, HID)

    def __call__(self, h):
        return h + self.fc2(nn.relu(self.fc1(self.norm(h))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(DIM, HID)
        self.layers = [Block() for _ in range(N_BLOCKS)]
        self.head = nn.Linear(HID, N_CLS)

    def __call__(self, x):
        h = self.embed(x)
        for l in self.layers:
            h = l(h)
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, task, n=2000):
    x, y = batch(task, n)
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def run(model, task, steps, tag):
    opt = optim.Adam(learning_rate=args.lr)
    vg = nn.value_and_grad(model, loss_fn)
    print(f"[{tag}] {'step':>5} | {'loss':>7} | {'acc_A':>6} | {'acc_B':>6} | {'sec':>5}")
    t0, acc_loss = time.time(), []
    for it in range(1, steps + 1):
        x, y = batch(task, args.batch_size)
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc_loss.append(loss.item())
        if it % 100 == 0:
            print(f"[{tag}] {it:>5} | {np.mean(acc_loss):7.4f} | {accuracy(model, 'A'):6.3f} | "
                  f"{accuracy(model, 'B'):6.3f} | {time.time() - t0:5.1f}")
            acc_loss = []


mx.random.seed(4)
model = Net()
mx.eval(model.parameters())
run(model, "A", args.pre_steps, "pretrain A")

snapshot = {k: np.array(v) for k, v in tree_flatten(model.parameters())}


def train_model(model):
    model.freeze()
    if args.num_layers > len(model.layers):
        raise ValueError(f"Requested to train {args.num_layers} layers "
                         f"but the model only has {len(model.layers)} layers.")
    if args.fine_tune_type == "full":
        for l in model.layers[-max(args.num_layers, 0):]:
            l.unfreeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"fine-tuning top {args.num_layers} block(s): {n_train} / {n_all} params trainable")
    run(model, "B", args.ft_steps, "finetune B")


train_model(model)

print("drift of pretrained weights after fine-tuning (max |delta| per module):")
for name in ["embed"] + [f"layers.{i}" for i in range(N_BLOCKS)] + ["head"]:
    d = max(float(np.abs(np.array(v) - snapshot[k]).max())
            for k, v in tree_flatten(model.parameters()) if k.startswith(name + "."))
    meant = "trainable" if name in {f"layers.{i}" for i in range(N_BLOCKS - args.num_layers, N_BLOCKS)} else "frozen"
    print(f"  {name:<9} ({meant:<9}) {d:.3e}")
