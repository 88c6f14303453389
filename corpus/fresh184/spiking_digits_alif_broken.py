"""
Tiny ALIF spiking network on synthetic spike-train "digits" (SHD-like), MLX.
Goal: maximise val_acc (higher is better) within a fixed step budget.
"""
import gc
import math
import time
from functools import partial

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np
from mlx import nn
from mlx.utils import tree_flatten

N_CHANNELS = 40
N_CLASSES = 5
T_STEPS = 20
N_HIDDEN = 48
N_LAYERS = 2
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
LABEL_SMOOTHING = 0.3
WARMUP_RATIO = 0.05
FINAL_LR_FRAC = 0.0
STEP_BUDGET = 240


def make_split(n, rng, protos):
    y = rng.integers(0, N_CLASSES, size=n)
    x = np.zeros((n, T_STEPS, N_CHANNELS), dtype=np.float32)
    for i in range(n):
        rate = protos[y[i]] + 0.05
        x[i] = (rng.random((T_STEPS, N_CHANNELS)) < rate).astype(np.float32)
    return mx.array(x), mx.array(y.astype(np.int32))


def spike_fn(v):
    # heaviside forward, fast-sigmoid surrogate backward
    sg = mx.sigmoid(4.0 * v)
    return sg + mx.stop_gradient((v > 0).astype(v.dtype) - sg)


class ALIF(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.beta_logit = mx.full((n,), 2.0)
        self.adapt_logit = mx.full((n,), 2.0)
        self.gamma = mx.full((n,), 0.2)

    def initial_state(self, b):
        n = self.gamma.shape[0]
        return (mx.zeros((b, n)), mx.zeros((b, n)))

    def __call__(self, x, state):
        v, a = state
        beta = mx.sigmoid(self.beta_logit)
        rho = mx.sigmoid(self.adapt_logit)
        thr = 1.0 + self.gamma * a
        v = beta * v + x
        s = spike_fn(v - thr)
        v = v - mx.stop_gradient(s) * thr
        a = rho * a + s
        return s, (v, a)


class LI(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.beta_logit = mx.full((n,), 1.5)

    def initial_state(self, b):
        return mx.zeros((b, self.beta_logit.shape[0]))

    def __call__(self, x, v):
        v = mx.sigmoid(self.beta_logit) * v + x
        return v, v


class TinySnn(nn.Module):
    def __init__(self, n_input, n_hidden, n_layers, n_classes):
        super().__init__()
        self.input_proj = nn.Linear(n_input, n_hidden, bias=False)
        self.hidden_linears = [nn.Linear(n_hidden, n_hidden, bias=False) for _ in range(n_layers - 1)]
        self.alif_layers = [ALIF(n_hidden) for _ in range(n_layers)]
        self.output_proj = nn.Linear(n_hidden, n_classes, bias=False)
        self.readout = LI(n_classes)

    def __call__(self, x_seq):
        n_t, n_b, _ = x_seq.shape
        states = [l.initial_state(n_b) for l in self.alif_layers]
        li = self.readout.initial_state(n_b)
        traces = []
        for t in range(n_t):
            x = self.input_proj(x_seq[t])
            x, states[0] = self.alif_layers[0](x, states[0])
            for i, (lin, alif) in enumerate(zip(self.hidden_linears, self.alif_layers[1:])):
                x, states[i + 1] = alif(lin(x), states[i + 1])
            v, li = self.readout(self.output_proj(x), li)
            traces.append(v)
        return mx.stack(traces, axis=0)


def get_lr(step, total, peak):
    p = step / max(total, 1)
    if p < WARMUP_RATIO:
        return peak * p / WARMUP_RATIO
    t = (p - WARMUP_RATIO) / (1.0 - WARMUP_RATIO)
    return peak * (FINAL_LR_FRAC + (1 - FINAL_LR_FRAC) * 0.5 * (1 + math.cos(math.pi * t)))


def loss_fn(model, x_seq, targets):
    logits = model(x_seq).sum(axis=0)
    return nn.losses.cross_entropy(logits, targets, label_smoothing=LABEL_SMOOTHING, reduction="mean")


def accuracy(model, x, y):
    logits = model(x.transpose(1, 0, 2)).sum(axis=0)
    return mx.mean(mx.argmax(logits, axis=1) == y).item()


t_start = time.time()
mx.random.seed(42)
rng = np.random.default_rng(42)
protos = rng.random((N_CLASSES, N_CHANNELS)) * 0.35
x_train, y_train = make_split(640, rng, protos)
x_test, y_test = make_split(320, rng, protos)
print(f"Dataset ready | train: {x_train.shape[0]} samples, test: {x_test.shape[0]} samples")

model = TinySnn(N_CHANNELS, N_HIDDEN, N_LAYERS, N_CLASSES)
mx.eval(model.parameters())
num_params = sum(p.size for _, p in tree_flatten(model.parameters()))
print(f"Parameters: {num_params / 1e3:.1f}K | hidden: {N_HIDDEN} x {N_LAYERS}")

optimizer = optim.AdamW(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY)

# Compile the training step for speed.
# inputs/outputs tell MLX which mutable state to track across calls.
_loss_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.trainable_parameters(), optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x_seq, targets):
    loss, grads = _loss_and_grad(model, x_seq, targets)
    optimizer.update(model, grads)
    return loss


print(f"Step budget: {STEP_BUDGET} | batch: {BATCH_SIZE} | T: {T_STEPS}")
step = 0
smooth_loss = 0.0
n = x_train.shape[0]
done = False
while not done:
    perm = mx.array(rng.permutation(n))
    for s in range(0, n - BATCH_SIZE + 1, BATCH_SIZE):
        idx = perm[s:s + BATCH_SIZE]
        x_seq = x_train[idx].transpose(1, 0, 2)
        y_batch = y_train[idx]
        lr = get_lr(step, STEP_BUDGET, LEARNING_RATE)
        optimizer.learning_rate = lr

        loss = train_step(x_seq, y_batch)
        mx.eval(loss)

        loss_f = float(loss.item())
        ema = 0.95
        smooth_loss = ema * smooth_loss + (1 - ema) * loss_f if step > 0 else loss_f
        debiased = smooth_loss / (1 - ema ** (step + 1)) if step > 0 else loss_f
        if step % 20 == 0:
            print(f"step {step:05d} ({100 * step / STEP_BUDGET:.1f}%) | loss: {debiased:.4f} | lr: {lr:.2e}", flush=True)
        if step == 0:
            gc.collect()
        step += 1
        if step >= STEP_BUDGET:
            done = True
            break

print(f"Training completed in {time.time() - t_start:.1f}s ({step} steps)")
val_acc = accuracy(model, x_test, y_test)
print("---")
print(f"val_acc:          {val_acc:.6f}")
print(f"num_steps:        {step}")
print(f"num_params_K:     {num_params / 1e3:.1f}")
