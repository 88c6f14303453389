"""Tiny sparse mixture-of-experts classifier: top-2 gating built with put_along_axis."""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_EXPERTS = 4
TOP_K = 2
IN_DIM = 16
HID = 32
N_CLASSES = 5


class SparseMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(IN_DIM, N_EXPERTS)
        self.experts = [nn.Sequential(nn.Linear(IN_DIM, HID), nn.GELU(), nn.Linear(HID, HID))
                        for _ in range(N_EXPERTS)]
        self.head = nn.Linear(HID, N_CLASSES)

    def gates(self, x):
        logits = self.router(x)
        probs = mx.softmax(logits, axis=-1)
        top = mx.stop_gradient(mx.argsort(-logits, axis=-1)[:, :TOP_K])  # chosen experts per sample
        w = mx.take_along_axis(probs, top, axis=-1)
        w = w / w.sum(axis=-1, keepdims=True)
        # scatter the renormalised weights back into a dense (batch, experts) gate
        return mx.put_along_axis(mx.zeros_like(probs), top, w, axis=-1)

    def __call__(self, x):
        g = self.gates(x)                                        # (B, E)
        outs = mx.stack([e(x) for e in self.experts], axis=1)    # (B, E, HID)
        h = (g[..., None] * outs).sum(axis=1)
        return self.head(h)


def make_data(n, rng, centers):
    y = rng.integers(0, N_CLASSES, size=n)
    x = centers[y] + 1.6 * rng.normal(size=(n, IN_DIM)).astype(np.float32)
    return x, y.astype(np.int32)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    centers = rng.normal(size=(N_CLASSES, IN_DIM)).astype(np.float32)
    xtr, ytr = make_data(8192, rng, centers)
    xva, yva = make_data(1024, rng, centers)

    model = SparseMoE()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-4)
    step_fn = nn.value_and_grad(model, loss_fn)

    bs = 64
    t0 = time.time()
    step = 0
    for epoch in range(10):
        perm = rng.permutation(len(xtr))
        run = []
        for i in range(0, len(xtr) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = step_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run.append(loss.item())
            step += 1
        acc = (mx.argmax(model(mx.array(xva)), axis=-1) == mx.array(yva)).mean().item()
        print(json.dumps({"epoch": epoch, "step": step, "train_loss": round(float(np.mean(run)), 4),
                          "val_acc": round(acc, 4), "elapsed_s": round(time.time() - t0, 2)}))


if __name__ == "__main__":
    main()
