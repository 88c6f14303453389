"""4-fold cross-validation: a fresh model per fold, so the loss jumps back up at each fold start."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
N, D = 800, 10
X = mx.random.normal((N, D))
w = mx.random.normal((D,))
Y = ((X @ w) + 0.3 * mx.random.normal((N,)) > 0).astype(mx.int32)
K = 4
fold = N // K


def make_model():
    return nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, 2))


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


scores = []
for k in range(K):
    val_idx = mx.arange(k * fold, (k + 1) * fold)
    tr_idx = mx.concatenate([mx.arange(0, k * fold), mx.arange((k + 1) * fold, N)])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[val_idx], Y[val_idx]
    model = make_model()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    vg = nn.value_and_grad(model, ce)
    for epoch in range(8):
        perm = mx.random.permutation(xtr.shape[0])
        total, nb = 0.0, 0
        for i in range(0, xtr.shape[0], 50):
            idx = perm[i:i + 50]
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            total += loss.item()
            nb += 1
        acc = (mx.argmax(model(xva), axis=1) == yva).mean().item()
        print(f"fold {k + 1}/{K} epoch {epoch + 1} train_loss={total / nb:.4f} val_acc={acc:.3f}")
    scores.append(acc)
print(f"cv accuracy: {sum(scores) / K:.3f} +- {max(scores) - min(scores):.3f}")
