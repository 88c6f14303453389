"""Phishing-URL classifier on hand-made lexical features.

Training uses the logits; the validation report scores the predicted
probabilities, so there the loss is told that its inputs are
probabilities.
"""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
mx.random.seed(7)

TLDS = ["com", "org", "net", "io", "xyz", "top", "ru", "info"]
WORDS = ["login", "verify", "secure", "account", "update", "bank", "free",
         "gift", "docs", "blog", "news", "shop", "mail", "cdn", "api"]


def make_url(phish):
    host_parts = [random.choice(WORDS) for _ in range(random.randint(1, 4 if phish else 2))]
    if phish and random.random() < 0.5:
        host_parts.insert(0, "%d-%d" % (random.randint(1, 255), random.randint(1, 255)))
    tld = random.choice(TLDS[4:] if phish and random.random() < 0.7 else TLDS[:4])
    path = "/".join(random.choice(WORDS) for _ in range(random.randint(0, 5 if phish else 2)))
    at = "@" if phish and random.random() < 0.2 else ""
    return "https://" + at + "-".join(host_parts) + "." + tld + "/" + path


def features(url):
    host = url.split("/")[2]
    return [
        len(url) / 60.0,
        url.count("-") / 4.0,
        url.count("/") / 6.0,
        sum(c.isdigit() for c in url) / 8.0,
        float("@" in url),
        float(host.rsplit(".", 1)[-1] in TLDS[4:]),
        sum(w in url for w in ("login", "verify", "secure", "account", "update")) / 3.0,
        len(host) / 30.0,
    ]


def build(n):
    xs, ys = [], []
    for _ in range(n):
        phish = random.random() < 0.5
        xs.append(features(make_url(phish)))
        # ~12% of the crowd-sourced labels are wrong
        label = phish if random.random() > 0.12 else (not phish)
        ys.append(1.0 if label else 0.0)
    return mx.array(xs), mx.array(ys)


x_train, y_train = build(80000)
x_val, y_val = build(4000)


class PhishNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.out(h).squeeze(-1)  # logits


model = PhishNet()
mx.eval(model.parameters())


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)
opt = optim.Adam(learning_rate=1e-3)

BATCH = 250
n = x_train.shape[0]
t0 = time.time()
for epoch in range(1, 7):
    perm = mx.random.permutation(n)
    running = 0.0
    for i in range(0, n, BATCH):
        idx = perm[i:i + BATCH]
        loss, grads = loss_and_grad(model, x_train[idx], y_train[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
    val_probs = mx.sigmoid(model(x_val))
    # inputs are probabilities here, not logits
    val_bce = nn.losses.binary_cross_entropy(val_probs, y_val, False).item()
    val_acc = ((val_probs > 0.5) == (y_val > 0.5)).mean().item()
    print(f"epoch {epoch:2d}  train_bce {running / math.ceil(n / BATCH):.4f}  "
          f"val_bce {val_bce:.4f}  val_acc {val_acc:.3f}  ({time.time() - t0:.1f}s)")
