"""MLP classifier ported from a PyTorch script (internal layer list + a learned
softmax temperature). Logs one JSON object per epoch."""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

K, D = 10, 20


class TempMLP(nn.Module):
    def __init__(self, dims=(D, 64, 64, K)):
        super().__init__()
        # internal blocks (was an nn.ModuleList called self._layers in the torch code)
        self._layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.log_temp = mx.array(0.0)

    def __call__(self, x):
        for l in self._layers[:-1]:
            x = nn.relu(l(x))
        return self._layers[-1](x) / mx.exp(self.log_temp)


def blobs(n, seed):
    k1, k2 = mx.random.split(mx.random.key(seed))
    centers = 2.0 * mx.random.normal((K, D), key=mx.random.key(123))
    y = mx.random.randint(0, K, (n,), key=k1)
    x = centers[y] + 1.5 * mx.random.normal((n, D), key=k2)
    return x, y


def main():
    mx.random.seed(0)
    xtr, ytr = blobs(4000, 1)
    xva, yva = blobs(1000, 2)
    model = TempMLP()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(json.dumps({"event": "start", "trainable_params": n_params}))
    opt = optim.RMSprop(learning_rate=1e-3)
    loss_fn = lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean")
    vg = nn.value_and_grad(model, loss_fn)
    bs = 100
    t0 = time.time()
    for epoch in range(15):
        perm = mx.random.permutation(xtr.shape[0])
        tot = 0.0
        for i in range(0, xtr.shape[0], bs):
            idx = perm[i : i + bs]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        logits = model(xva)
        rec = {
            "epoch": epoch,
            "nll": round(tot / (xtr.shape[0] // bs), 4),
            "val_nll": round(loss_fn(model, xva, yva).item(), 4),
            "val_acc": round((mx.argmax(logits, axis=1) == yva).mean().item(), 4),
            "temp": round(mx.exp(model.log_temp).item(), 4),
            "sec": round(time.time() - t0, 2),
        }
        print(json.dumps(rec))


if __name__ == "__main__":
    main()
