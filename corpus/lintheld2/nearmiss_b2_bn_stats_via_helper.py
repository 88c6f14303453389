"""BatchNorm MLP; the step evaluates trainable parameters plus the BatchNorm
buffers gathered by a helper."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Net(nn.Module):
    def __init__(self, d_in=16, width=128):
        super().__init__()
        self.l1, self.bn1 = nn.Linear(d_in, width), nn.BatchNorm(width)
        self.l2, self.bn2 = nn.Linear(width, width), nn.BatchNorm(width)
        self.head = nn.Linear(width, 3)

    def __call__(self, x):
        x = nn.relu(self.bn1(self.l1(x)))
        x = nn.relu(self.bn2(self.l2(x)))
        return self.head(x)


def bn_buffers(model):
    return [
        (m.running_mean, m.running_var)
        for _, m in model.named_modules()
        if isinstance(m, nn.BatchNorm)
    ]


class Trainer:
    def __init__(self, net, lr=0.02):
        self.net = net
        self.opt = optim.SGD(learning_rate=lr, momentum=0.9)
        self.fn = nn.value_and_grad(net, self.loss)

    def loss(self, x, y):
        return nn.losses.cross_entropy(self.net(x), y).mean()

    def step(self, x, y):
        loss, grads = self.fn(x, y)
        self.opt.update(self.net, grads)
        mx.eval(self.net.trainable_parameters(), bn_buffers(self.net), self.opt.state, loss)
        return loss


def main():
    mx.random.seed(1)
    centers = mx.random.normal((3, 16)) * 3
    y_all = mx.random.randint(0, 3, (3000,))
    x_all = centers[y_all] + mx.random.normal((3000, 16)) * 2
    tr = Trainer(Net())
    tr.net.train()
    for step in range(1, 601):
        sel = mx.random.randint(0, 3000, (128,))
        loss = tr.step(x_all[sel], y_all[sel])
        if step % 100 == 0 or step == 1:
            print(f"step {step} loss {loss.item():.4f} active {mx.get_active_memory() / 2**20:.2f} MiB")
    tr.net.eval()
    acc = (mx.argmax(tr.net(x_all), 1) == y_all).mean().item()
    print(f"eval-mode accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
