"""Canal barge manifests: 5-way cargo class from 32 hold-sensor readings.

Two runs of the same MLP are compared.  Run "plain" trains in float the whole
time.  Run "qnoise" trains with Quant-Noise: on every step a random share p of
the 32-wide weight groups is swapped for its 2-bit quantize/dequantize value
(gradient passed straight through), p growing in three stages 0 -> 0.25 -> 0.5.
Both are then packed with nn.quantize to 2 bits and scored again.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

GROUP, BITS = 32, 2


class NoisyLinear(nn.Linear):
    def __init__(self, din, dout):
        super().__init__(din, dout)
        self.share = 0.0  # plain float attribute, not a parameter

    def __call__(self, x):
        w = self.weight
        if self.training and self.share > 0:
            wq = mx.dequantize(*mx.quantize(w, GROUP, BITS), GROUP, BITS)
            o, i = w.shape
            keep = mx.random.uniform(shape=(o, i // GROUP, 1)) < self.share
            keep = mx.broadcast_to(keep, (o, i // GROUP, GROUP)).reshape(o, i)
            w = w + mx.stop_gradient(mx.where(keep, wq - w, 0.0))
        return x @ w.T + self.bias


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = NoisyLinear(32, 128)
        self.l2 = NoisyLinear(128, 128)
        self.l3 = NoisyLinear(128, 32)
        self.head = nn.Linear(32, 5)

    def set_share(self, p):
        for l in (self.l1, self.l2, self.l3):
            l.share = p

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        x = nn.gelu(self.l3(x))
        return self.head(x)


def make_data(n, rng):
    x = rng.normal(size=(n, 32)).astype(np.float32)
    w1 = np.random.default_rng(7).normal(size=(32, 5)).astype(np.float32)
    score = np.tanh(x @ w1) + 0.3 * (x[:, :5] ** 2) + 0.4 * rng.normal(size=(n, 5))
    return x, score.argmax(1).astype(np.int32)


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y))


def train(tag, stages, xtr, ytr, xva, yva, seed):
    mx.random.seed(seed)
    model = Net()
    model.train()
    steps_per_epoch = len(xtr) // 128
    total = steps_per_epoch * sum(e for _, e in stages)
    sched = optim.cosine_decay(2e-3, total, 1e-5)
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(seed)
    for p, epochs in stages:
        model.set_share(p)
        run = []
        for ep in range(epochs):
            perm = rng.permutation(len(xtr))
            for b in range(steps_per_epoch):
                idx = mx.array(perm[b * 128:(b + 1) * 128])
                loss, grads = step_fn(model, xtr[idx], ytr[idx])
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                run.append(loss.item())
        model.eval()
        va = accuracy(model, xva, yva)
        model.train()
        print(f"  [{tag}] stage share={p:.2f} epochs={epochs} "
              f"train_ce(last 50)={np.mean(run[-50:]):.4f} val_acc_float={va:.4f}")
    model.eval()
    return model


def main():
    t0 = time.time()
    rng = np.random.default_rng(0)
    xtr, ytr = make_data(6000, rng)
    xva, yva = make_data(2000, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    majority = float(np.bincount(np.array(yva)).max() / len(yva))
    print(f"barge manifests: train={xtr.shape[0]} val={xva.shape[0]} "
          f"majority-class baseline={majority:.4f}")

    results = {}
    for tag, stages in (("plain", [(0.0, 9)]),
                        ("qnoise", [(0.0, 3), (0.25, 3), (0.5, 3)])):
        print(f"run {tag}")
        model = train(tag, stages, xtr, ytr, xva, yva, seed=1)
        f_acc = accuracy(model, xva, yva)
        nn.quantize(model, group_size=GROUP, bits=BITS,
                    class_predicate=lambda p, m: isinstance(m, NoisyLinear))
        q_acc = accuracy(model, xva, yva)
        results[tag] = (f_acc, q_acc)

    print("\nrun     val_acc_float  val_acc_2bit  drop")
    for tag, (f, q) in results.items():
        print(f"{tag:7s} {f:13.4f} {q:13.4f} {f - q:+.4f}")
    print(f"majority baseline {majority:.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
