"""Drum onset tagger (kick / snare / hat) trained on synthetic mel frames.

Small Trainer with optional mx.compile of the optimisation step, mirroring
the drumux training module layout.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_MELS = 24
CONTEXT = 5
DRUMS = ["kick", "snare", "hat"]


def make_clip(key, n_frames=4000):
    k1, k2, k3 = mx.random.split(key, 3)
    hits = (mx.random.uniform(shape=(n_frames, 3), key=k1) < 0.18).astype(mx.float32)
    bands = mx.arange(N_MELS).astype(mx.float32)
    kick_profile = mx.exp(-((bands - 2.0) ** 2) / 6.0)
    snare_profile = mx.exp(-((bands - 11.0) ** 2) / 18.0)
    hat_profile = mx.exp(-((bands - 21.0) ** 2) / 5.0)
    profiles = mx.stack([kick_profile, snare_profile, hat_profile])  # (3, N_MELS)
    spec = hits @ profiles + 0.35 * mx.random.normal((n_frames, N_MELS), key=k2)
    spec = mx.log1p(mx.abs(spec) * 4.0)
    # stack CONTEXT frames centred on each target frame
    pad = CONTEXT // 2
    padded = mx.pad(spec, [(pad, pad), (0, 0)])
    windows = mx.stack([padded[i : i + n_frames] for i in range(CONTEXT)], axis=1)
    return windows.reshape(n_frames, CONTEXT * N_MELS), hits


class OnsetNet(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.inp = nn.Linear(CONTEXT * N_MELS, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, len(DRUMS))

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.mid(h)) + h
        return self.out(h)

    def compute_loss(self, batch):
        x, y = batch
        logits = self(x)
        loss = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")
        return loss


def warmup_cosine(base_lr, warmup, total):
    def sched(step):
        step = mx.array(step, dtype=mx.float32)
        warm = base_lr * step / warmup
        prog = mx.clip((step - warmup) / (total - warmup), 0.0, 1.0)
        cos = 0.5 * base_lr * (1.0 + mx.cos(math.pi * prog))
        return mx.where(step < warmup, warm, cos)
    return sched


class Trainer:
    def __init__(self, module, optimizer, gradient_clip_val=1.0, compile=True):
        self.module = module
        self.optimizer = optimizer
        self.gradient_clip_val = gradient_clip_val
        self.compile = compile
        self.global_step = 0
        self._step = self._build_step()

    def _build_step(self):
        module, optimizer = self.module, self.optimizer
        clip = self.gradient_clip_val

        def loss_only(model, batch):
            return model.compute_loss(batch)

        loss_and_grad = nn.value_and_grad(module, loss_only)

        def core_step(x, y):
            loss, grads = loss_and_grad(module, (x, y))
            if clip is not None:
                grads, _ = optim.clip_grad_norm(grads, clip)
            optimizer.update(module, grads)
            return loss

        if self.compile:
            core_step = mx.compile(core_step)
        return core_step

    def fit(self, x, y, epochs, batch_size):
        n = x.shape[0]
        for epoch in range(epochs):
            perm = mx.random.permutation(n)
            t0 = time.perf_counter()
            running = []
            for i in range(0, n - batch_size + 1, batch_size):
                idx = perm[i : i + batch_size]
                loss = self._step(x[idx], y[idx])
                mx.eval(loss, self.module.parameters(), self.optimizer.state)
                running.append(loss.item())
                self.global_step += 1
            dt = time.perf_counter() - t0
            yield epoch, sum(running) / len(running), dt


def frame_f1(model, x, y):
    pred = (mx.sigmoid(model(x)) > 0.5).astype(mx.float32)
    tp = (pred * y).sum(axis=0)
    fp = (pred * (1 - y)).sum(axis=0)
    fn = ((1 - pred) * y).sum(axis=0)
    f1 = 2 * tp / mx.maximum(2 * tp + fp + fn, 1.0)
    return f1


def main():
    mx.random.seed(11)
    xtr, ytr = make_clip(mx.random.key(1))
    xva, yva = make_clip(mx.random.key(2), n_frames=1000)
    model = OnsetNet()
    epochs, bs = 12, 64
    steps = epochs * (xtr.shape[0] // bs)
    opt = optim.AdamW(learning_rate=warmup_cosine(3e-3, 40, steps), weight_decay=1e-4)
    trainer = Trainer(model, opt, gradient_clip_val=1.0, compile=True)
    print(f"drumux onset | frames={xtr.shape[0]} feat={xtr.shape[1]} steps={steps} compile=on")
    for epoch, tr_loss, dt in trainer.fit(xtr, ytr, epochs, bs):
        va_loss = model.compute_loss((xva, yva))
        f1 = frame_f1(model, xva, yva)
        mx.eval(va_loss, f1)
        f1s = " ".join(f"{d}={v:.3f}" for d, v in zip(DRUMS, f1.tolist()))
        print(f"[ep {epoch + 1:02d}/{epochs}] step={trainer.global_step:4d} "
              f"bce={tr_loss:.4f} val_bce={va_loss.item():.4f} f1: {f1s} ({dt * 1000:.0f} ms)")
    print("done.")


if __name__ == "__main__":
    main()
