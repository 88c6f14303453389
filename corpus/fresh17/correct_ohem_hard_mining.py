"""Online hard example mining (OHEM): each step only the hardest 35% of the
batch contribute to the loss, so the logged training loss stays high and noisy
while the full-set loss and accuracy improve. SGD with Nesterov momentum."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def make_data(n, seed):
    mx.random.seed(seed)
    x = mx.random.normal((n, 6))
    # two interleaved clusters per class -> a non-linear boundary
    score = mx.sin(2.0 * x[:, 0]) + x[:, 1] * x[:, 2] - 0.5 * x[:, 3]
    y = (score > 0).astype(mx.int32)
    flip = mx.random.uniform(shape=(n,)) < 0.02  # a little label noise
    y = mx.where(flip, 1 - y, y)
    return x, y


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 2)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


def ohem_loss(model, x, y, keep_frac=0.35):
    per = nn.losses.cross_entropy(model(x), y, reduction="none")
    k = max(1, int(keep_frac * per.shape[0]))
    hardest = mx.sort(per)[-k:]
    return hardest.mean()


def main():
    xtr, ytr = make_data(4000, 0)
    xva, yva = make_data(1000, 1)
    model = MLP()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    step_fn = nn.value_and_grad(model, ohem_loss)
    bs = 128
    print(f"{'epoch':>5} | {'ohem_loss':>9} | {'full_train_ce':>13} | {'val_acc':>7}")
    print("-" * 46)
    for epoch in range(1, 16):
        perm = mx.random.permutation(xtr.shape[0])
        tot, nb = 0.0, 0
        for i in range(0, xtr.shape[0], bs):
            idx = perm[i : i + bs]
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        full = nn.losses.cross_entropy(model(xtr), ytr, reduction="mean").item()
        acc = (mx.argmax(model(xva), axis=-1) == yva).mean().item()
        print(f"{epoch:>5} | {tot / nb:>9.4f} | {full:>13.4f} | {acc:>7.3f}")


if __name__ == "__main__":
    main()
