"""Antimicrobial-peptide activity classifier with a FIXED amino-acid descriptor table.

Each residue is looked up in a hand-made 5-column physico-chemical table
(hydropathy, charge, bulk, aromatic flag, helix propensity). The table is an
nn.Embedding that we freeze on purpose: only the conv/MLP on top of it trains.
The learning rate warms up from exactly 0, so the very first update is a no-op.
Progress is written as JSON lines; the loss is reported in bits per peptide.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

AA = "ACDEFGHIKLMNPQRSTVWY"
# hydropathy(KD/4.5), charge, bulk(MW/200), aromatic, helix propensity
DESCRIPTORS = {
    "A": (0.40, 0.0, 0.45, 0, 1.42), "C": (0.56, 0.0, 0.61, 0, 0.70),
    "D": (-0.78, -1.0, 0.67, 0, 1.01), "E": (-0.78, -1.0, 0.74, 0, 1.51),
    "F": (0.62, 0.0, 0.83, 1, 1.13), "G": (-0.09, 0.0, 0.38, 0, 0.57),
    "H": (-0.71, 0.1, 0.78, 1, 1.00), "I": (1.00, 0.0, 0.66, 0, 1.08),
    "K": (-0.87, 1.0, 0.73, 0, 1.16), "L": (0.84, 0.0, 0.66, 0, 1.21),
    "M": (0.42, 0.0, 0.75, 0, 1.45), "N": (-0.78, 0.0, 0.66, 0, 0.67),
    "P": (-0.36, 0.0, 0.58, 0, 0.57), "Q": (-0.78, 0.0, 0.73, 0, 1.11),
    "R": (-1.00, 1.0, 0.87, 0, 0.98), "S": (-0.18, 0.0, 0.53, 0, 0.77),
    "T": (-0.16, 0.0, 0.60, 0, 0.83), "V": (0.93, 0.0, 0.59, 0, 1.06),
    "W": (-0.20, 0.0, 1.02, 1, 1.08), "Y": (-0.29, 0.0, 0.91, 1, 0.69),
}
HYDROPHOBIC = set("AILMFVWC")
MAX_LEN = 20


def make_peptides(n, rng):
    tokens = np.zeros((n, MAX_LEN), dtype=np.int32)  # 0 = padding
    lengths = rng.integers(10, MAX_LEN + 1, size=n)
    labels = np.zeros(n, dtype=np.float32)
    for i in range(n):
        # every peptide draws its own composition so charge/hydrophobicity vary a lot
        probs = rng.dirichlet(np.full(len(AA), 0.6))
        seq = rng.choice(len(AA), size=lengths[i], p=probs)
        tokens[i, : lengths[i]] = seq + 1
        letters = [AA[j] for j in seq]
        charge = sum(DESCRIPTORS[a][1] for a in letters)
        hfrac = sum(a in HYDROPHOBIC for a in letters) / lengths[i]
        n_pro = letters.count("P")
        logit = 1.1 * (charge - 1.5) + 7.0 * (hfrac - 0.30) - 25.0 * max(0.0, hfrac - 0.6) ** 2 - 0.7 * n_pro
        labels[i] = rng.random() < 1.0 / (1.0 + math.exp(-logit))
    return tokens, lengths.astype(np.int32), labels


class PeptideNet(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(len(AA) + 1, 5)
        table = np.zeros((len(AA) + 1, 5), dtype=np.float32)
        for j, a in enumerate(AA):
            table[j + 1] = DESCRIPTORS[a]
        self.embed.weight = mx.array(table)
        self.conv1 = nn.Conv1d(5, hidden, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, kernel_size=3, padding=1)
        self.fc = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, tokens):
        mask = (tokens > 0).astype(mx.float32)[..., None]  # (B, L, 1)
        h = self.embed(tokens)  # (B, L, 5): NLC, what nn.Conv1d expects
        h = nn.relu(self.conv1(h)) * mask
        h = nn.relu(self.conv2(h)) * mask
        pooled = h.sum(axis=1) / mask.sum(axis=1)
        return self.out(nn.relu(self.fc(pooled))).squeeze(-1)


def loss_fn(model, tokens, labels):
    return nn.losses.binary_cross_entropy(model(tokens), labels, with_logits=True, reduction="mean")


def log(**kw):
    print(json.dumps(kw, sort_keys=True), flush=True)


def evaluate(model, tokens, labels):
    logits = model(tokens)
    nats = nn.losses.binary_cross_entropy(logits, labels, with_logits=True, reduction="mean")
    acc = ((logits > 0) == (labels > 0.5)).astype(mx.float32).mean()
    return nats.item() / math.log(2), 100.0 * acc.item()


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    tr_tok, _, tr_y = make_peptides(6000, rng)
    va_tok, _, va_y = make_peptides(1500, rng)
    tr_tok, tr_y = mx.array(tr_tok), mx.array(tr_y)
    va_tok, va_y = mx.array(va_tok), mx.array(va_y)
    log(event="data", train=int(tr_tok.shape[0]), valid=int(va_tok.shape[0]),
        positive_pct=round(100 * float(tr_y.mean().item()), 1))

    model = PeptideNet()
    model.embed.freeze()  # the descriptor table is fixed knowledge, not learned
    table_before = np.array(model.embed.weight)
    mx.eval(model.parameters())

    steps_total = 1500
    warm = 60
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps_total - warm, 2e-4)], [warm]
    )
    opt = optim.RMSprop(learning_rate=schedule, alpha=0.95)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    # audit: every trainable leaf gets a gradient; the frozen table is not trainable
    _, g0 = loss_and_grad(model, tr_tok[:256], tr_y[:256])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
    log(event="grad_check", trainable_leaves=len(leaves), zero_grad_leaves=zero,
        frozen=[k for k, _ in tree_flatten(model.parameters()) if k not in dict(leaves)])
    bits0, acc0 = evaluate(model, va_tok, va_y)
    log(event="untrained", valid_bits=round(bits0, 4), valid_acc_pct=round(acc0, 2))

    batch = 64
    n = tr_tok.shape[0]
    step, window = 0, []
    t0 = time.time()
    while step < steps_total:
        perm = mx.array(rng.permutation(n))
        for i in range(0, n - batch + 1, batch):
            idx = perm[i : i + batch]
            lr_now = float(schedule(step))  # the rate this update uses (0 at step 0)
            loss, grads = loss_and_grad(model, tr_tok[idx], tr_y[idx])
            opt.update(model, grads)
            mx.eval(model.trainable_parameters(), opt.state, loss)
            window.append(loss.item() / math.log(2))
            step += 1
            if step == 1 or step % 150 == 0:
                vb, va = evaluate(model, va_tok, va_y)
                log(event="report", step=step, lr=round(lr_now, 6),
                    train_bits=round(float(np.mean(window)), 4), valid_bits=round(vb, 4),
                    valid_acc_pct=round(va, 2), elapsed_s=round(time.time() - t0, 1))
                window = []
            if step >= steps_total:
                break

    unchanged = bool(np.array_equal(table_before, np.array(model.embed.weight)))
    vb, va = evaluate(model, va_tok, va_y)
    log(event="done", steps=step, valid_bits=round(vb, 4), valid_acc_pct=round(va, 2),
        descriptor_table_unchanged=unchanged, elapsed_s=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
