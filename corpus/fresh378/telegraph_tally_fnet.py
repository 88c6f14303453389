"""FNet (Fourier token mixing, Lee-Thorp et al. 2021) port in MLX.

Telegraph office triage: each packet is a stream of code groups; a packet is
flagged "priority" when it carries more PRI groups than RTN groups
(5% of training labels are mis-keyed by the clerks, so train CE has a floor).  Stage 1
trains on short packets (16 groups), the weights are checkpointed and reloaded
into a fresh model, and stage 2 continues on long packets (32 groups) with a
fresh optimizer whose learning rate again ramps up from 0.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, PRI, RTN, MAXLEN = 24, 3, 5, 32
rng = np.random.default_rng(7)
mx.random.seed(7)


def make_packets(n, length, noisy=False):
    x = rng.integers(6, VOCAB, size=(n, length))
    n_pri = rng.integers(0, length // 3, size=n)
    n_rtn = rng.integers(0, length // 3, size=n)
    tie = n_pri == n_rtn
    n_pri[tie] += 1
    for i in range(n):
        pos = rng.permutation(length)[: n_pri[i] + n_rtn[i]]
        x[i, pos[: n_pri[i]]] = PRI
        x[i, pos[n_pri[i]:]] = RTN
    y = (n_pri > n_rtn).astype(np.int32)
    if noisy:
        flip = rng.random(n) < 0.05
        y[flip] = 1 - y[flip]
    return mx.array(x.astype(np.int32)), mx.array(y)


class FourierMix(nn.Module):
    def __call__(self, x):
        return mx.fft.fft2(x.astype(mx.complex64), axes=(-2, -1)).real


class FNetBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.mix = FourierMix()
        self.norm1 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.norm2 = nn.LayerNorm(d)

    def __call__(self, x):
        x = self.norm1(x + self.mix(x))
        return self.norm2(x + self.ff(x))


class FNetClassifier(nn.Module):
    def __init__(self, d=32, depth=2):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(MAXLEN, d)
        self.blocks = [FNetBlock(d) for _ in range(depth)]
        self.head = nn.Linear(d, 2)

    def __call__(self, tokens):
        h = self.embed(tokens) + self.pos(mx.arange(tokens.shape[1]))
        for blk in self.blocks:
            h = blk(h)
        return self.head(h.mean(axis=1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


def run_stage(model, name, length, steps, peak_lr, report_at):
    xtr, ytr = make_packets(4000, length, noisy=True)
    xva, yva = make_packets(800, length)
    majority = max(yva.mean().item(), 1 - yva.mean().item())
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm), optim.cosine_decay(peak_lr, steps - warm, 1e-5)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    print("---")
    print(f"stage: {name}")
    print(f"packet_len: {length}")
    print(f"majority_baseline_acc: {majority:.3f}")
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=48))
        lr_now = opt.learning_rate.item()
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step in report_at:
            print("---")
            print(f"stage: {name}")
            print(f"step: {step}")
            print(f"lr_used: {lr_now:.6f}")
            print(f"train_ce: {loss.item():.4f}")
            print(f"val_acc: {accuracy(model, xva, yva):.3f}")
            print(f"majority_baseline_acc: {majority:.3f}")
    return accuracy(model, xva, yva), majority


t0 = time.time()
model = FNetClassifier()
mx.eval(model.parameters())
acc1, base1 = run_stage(model, "short_packets", 16, 200, 3e-3, {1, 25, 50, 100, 150, 200})

ckpt = os.path.join(tempfile.mkdtemp(), "fnet_stage1.safetensors")
model.save_weights(ckpt)
resumed = FNetClassifier()
resumed.load_weights(ckpt)
mx.eval(resumed.parameters())
print("---")
print(f"checkpoint: {os.path.basename(ckpt)}")
print(f"reloaded_val_acc_short: {acc1:.3f}")

acc2, base2 = run_stage(resumed, "long_packets", 32, 200, 2e-3, {1, 100, 200})
print("---")
print("done: true")
print(f"final_val_acc_long: {acc2:.3f}")
print(f"majority_baseline_acc_long: {base2:.3f}")
print(f"seconds: {time.time() - t0:.1f}")
