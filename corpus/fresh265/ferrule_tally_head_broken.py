"""Ticket triage: does a support ticket need a same-day callback?

Tiny BERT-style encoder + binary classification head (2 logits, softmax),
trained on synthetic tokenised tickets. Labels come from a CSV-like table.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, SEQ, DIM = 200, 16, 32
URGENT_TOKENS = [7, 19, 42, 77, 101]

rng = np.random.default_rng(3)


def make_table(n):
    ids = rng.integers(5, VOCAB, size=(n, SEQ))
    label = rng.random(n) < 0.4
    for i in np.where(label)[0]:
        k = rng.integers(1, 3)
        pos = rng.choice(SEQ, size=k, replace=False)
        ids[i, pos] = rng.choice(URGENT_TOKENS, size=k)
    for i in np.where(~label)[0]:
        mask = np.isin(ids[i], URGENT_TOKENS)
        ids[i, mask] = 5
    # 6% of tickets were mislabelled by the first-line agent
    label = label ^ (rng.random(n) < 0.06)
    # exported sheet: token columns + label column
    table = np.concatenate([ids.astype(np.float32), label[:, None].astype(np.float32)], axis=1)
    return table


def cross_entropy_loss(predictions, targets, num_classes=None, reduction="mean"):
    if num_classes is None:
        num_classes = predictions.shape[-1]

    max_vals = mx.max(predictions, axis=-1, keepdims=True)
    shifted = predictions - max_vals
    exp_shifted = mx.exp(shifted)
    sum_exp = mx.sum(exp_shifted, axis=-1, keepdims=True)
    log_probs = shifted - mx.log(sum_exp)

    if targets.ndim == 1:
        targets_one_hot = mx.zeros((targets.shape[0], num_classes))
        targets_one_hot[mx.arange(targets.shape[0]), targets] = 1
    else:
        targets_one_hot = targets

    loss = -(targets_one_hot * log_probs).sum(axis=-1)
    if reduction == "mean":
        return loss.mean()
    elif reduction == "sum":
        return loss.sum()
    return loss


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.block = nn.TransformerEncoderLayer(DIM, 4, mlp_dims=64)
        self.norm = nn.LayerNorm(DIM)

    def __call__(self, ids):
        h = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        h = self.block(h, None)
        return self.norm(h)


class BinaryClassificationHead(nn.Module):
    def __init__(self, hidden, proj=32):
        super().__init__()
        self.projection = nn.Linear(hidden, proj)
        self.classifier = nn.Linear(proj, 2)

    def __call__(self, pooled):
        features = nn.gelu(self.projection(pooled))
        logits = self.classifier(features)
        probs = mx.softmax(logits, axis=-1)
        return {
            "logits": logits,
            "probabilities": probs[:, 1],
            "predictions": mx.argmax(logits, axis=-1),
        }

    def compute_loss(self, outputs, targets):
        return cross_entropy_loss(outputs["logits"], targets)


class TicketModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.head = BinaryClassificationHead(DIM)

    def __call__(self, ids):
        h = self.encoder(ids)
        return self.head(h.mean(axis=1))


train = make_table(1600)
valid = make_table(400)
x_tr, y_tr = mx.array(train[:, :SEQ].astype(np.int32)), mx.array(train[:, SEQ])
x_va, y_va = mx.array(valid[:, :SEQ].astype(np.int32)), mx.array(valid[:, SEQ])
print(f"train {train.shape[0]} tickets, valid {valid.shape[0]}, urgent share {float(y_tr.mean()):.3f}")

mx.random.seed(0)
model = TicketModel()
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)


def loss_fn(m, x, y):
    return m.head.compute_loss(m(x), y)


step = nn.value_and_grad(model, loss_fn)
BATCH = 64
t0 = time.time()
for epoch in range(1, 5):
    perm = rng.permutation(train.shape[0])
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - BATCH + 1, BATCH):
        idx = mx.array(perm[i:i + BATCH])
        loss, grads = step(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    model.eval()
    out = model(x_va)
    vloss = loss_fn(model, x_va, y_va).item()
    acc = (out["predictions"] == y_va.astype(mx.int32)).astype(mx.float32).mean().item()
    model.train()
    print(f"epoch {epoch} | train_loss {tot / nb:.4f} | val_loss {vloss:.4f} | val_acc {acc * 100:.1f}% | {time.time() - t0:.1f}s")

print("done")
