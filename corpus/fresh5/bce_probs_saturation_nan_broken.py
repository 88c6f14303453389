"""Binary spam-score style classifier on hashed bag-of-words features, AdamW, dict logs."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(13)
N, V = 4096, 64
counts = mx.floor(mx.random.uniform(0, 1.6, (N, V)))   # word counts 0/1
w_true = mx.random.normal((V,))
y = ((counts @ w_true) > 0).astype(mx.float32)
X = mx.log1p(counts)
Xtr, ytr, Xte, yte = X[:3584], y[:3584], X[3584:], y[3584:]
mx.eval(Xtr, ytr, Xte, yte)

model = nn.Sequential(nn.Linear(V, 128), nn.ReLU(), nn.Linear(128, 1))
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)


def loss_fn(m, x, t):
    logits = m(x).squeeze(-1)
    return nn.losses.binary_cross_entropy(mx.sigmoid(logits), t, with_logits=False)


vg = nn.value_and_grad(model, loss_fn)
for epoch in range(1, 16):
    perm = mx.random.permutation(Xtr.shape[0])
    tot = 0.0
    for i in range(0, Xtr.shape[0], 128):
        idx = perm[i:i + 128]
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    logits = model(Xte).squeeze(-1)
    acc = mx.mean((logits > 0) == (yte > 0.5)).item()
    print({"epoch": epoch, "bce": round(tot / 28, 5), "test_acc": round(acc, 4)})
