"""Keep an exponential moving average of the weights as a flat {path: array} dict and
evaluate a copy of the network with the EMA weights loaded via load_weights (which
understands dotted paths)."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(4, 32), nn.Linear(32, 32), nn.Linear(32, 3)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.relu(l(x))
        return self.layers[-1](x)


def main():
    mx.random.seed(1)
    x = mx.random.normal((600, 4))
    y = (x[:, 0] > 0).astype(mx.int32) + (x[:, 1] * x[:, 2] > 0).astype(mx.int32)
    net, shadow = Net(), Net()
    opt = optim.SGD(learning_rate=0.1, momentum=0.9)
    vg = nn.value_and_grad(net, lambda a, b: nn.losses.cross_entropy(net(a), b, reduction="mean"))
    ema = {k: mx.array(v) for k, v in tree_flatten(net.parameters())}
    decay = 0.98
    t0 = time.time()
    for it in range(400):
        idx = mx.random.randint(0, 600, (64,))
        _, g = vg(x[idx], y[idx])
        opt.update(net, g)
        for k, v in tree_flatten(net.parameters()):
            ema[k] = decay * ema[k] + (1 - decay) * v
        mx.eval(net.parameters(), opt.state, ema)
    shadow.load_weights(list(ema.items()))
    same = all(mx.array_equal(v, ema[k]).item() for k, v in tree_flatten(shadow.parameters()))
    acc = lambda m: (mx.argmax(m(x), -1) == y).mean().item()
    print(f"EMA weights loaded into shadow: {same}; acc raw {acc(net):.3f} ema {acc(shadow):.3f}"
          f"  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
