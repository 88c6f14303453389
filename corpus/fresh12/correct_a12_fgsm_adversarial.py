# Adversarial training (FGSM, eps=0.8) of a small MLP. The loss we report is the loss on
# the *perturbed* inputs, which stays high by design; clean accuracy is what improves.
import json
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
N, D, C = 3000, 10, 4
centers = rng.normal(scale=1.0, size=(C, D)).astype(np.float32)
labels = rng.integers(0, C, size=N)
Xn = centers[labels] + rng.normal(size=(N, D)).astype(np.float32)
Xtr, Ytr = mx.array(Xn[:2400]), mx.array(labels[:2400])
Xte, Yte = mx.array(Xn[2400:]), mx.array(labels[2400:])
EPS = 0.8

model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, C))
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


input_grad = mx.grad(lambda x, y: ce(model, x, y))
train_step = nn.value_and_grad(model, ce)


def accuracy(x, y):
    return (mx.argmax(model(x), axis=1) == y).mean().item()


for epoch in range(1, 13):
    perm = rng.permutation(2400)
    adv_losses = []
    for i in range(0, 2400, 100):
        idx = mx.array(perm[i:i + 100])
        x, y = Xtr[idx], Ytr[idx]
        x_adv = mx.stop_gradient(x + EPS * mx.sign(input_grad(x, y)))
        loss, grads = train_step(model, x_adv, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        adv_losses.append(loss.item())
    x_adv_te = Xte + EPS * mx.sign(input_grad(Xte, Yte))
    print(json.dumps({"epoch": epoch, "adv_loss": round(float(np.mean(adv_losses)), 4),
                      "clean_acc": round(accuracy(Xte, Yte), 4),
                      "robust_acc": round(accuracy(x_adv_te, Yte), 4)}))
