"""Tiny chat-style SFT: every example is a long shared system prompt, a user turn
(three digits) and an assistant turn (two answer digits + EOS).

CONFIG says train_on_responses_only=True: only the assistant tokens should
contribute to the loss. Reports epoch loss and exact-match of the assistant
answer on held-out user turns.
"""
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONFIG = {
    "train_on_responses_only": True,
    "lr": 0.3,
    "momentum": 0.9,
    "batch_size": 64,
    "epochs": 12,
    "context": 4,
}

V = 48                     # 0-9 digits, 10-45 "words", 46 = SEP (assistant start), 47 = EOS
SEP, EOS = 46, 47
rng = np.random.default_rng(0)
SYSTEM = list(rng.integers(10, 46, size=40))   # long fixed system prompt / style guide


def make_example(d):
    prompt = SYSTEM + list(d) + [SEP]
    answer = [int(d[0] + d[1] + d[2]) % 10, int(d[1] + d[2]) % 10, EOS]
    return prompt, answer


def build(n, seed):
    r = np.random.default_rng(seed)
    digits = r.integers(0, 10, size=(n, 3))
    seqs, offsets = [], []
    for d in digits:
        p, a = make_example(d)
        seqs.append(p + a)
        offsets.append(len(p))
    return np.array(seqs, dtype=np.int32), np.array(offsets, dtype=np.int32), digits


class WindowLM(nn.Module):
    """Next-token model over the previous CONFIG['context'] tokens."""

    def __init__(self, k, dim=16, hidden=128):
        super().__init__()
        self.k = k
        self.emb = nn.Embedding(V, dim)
        self.mlp = nn.Sequential(nn.Linear(k * dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, V))

    def __call__(self, tokens):
        # tokens: (B, T) -> logits for positions k..T-1, predicting tokens[:, k:]
        B, T = tokens.shape
        e = self.emb(tokens)
        windows = mx.concatenate([e[:, i:T - self.k + i] for i in range(self.k)], axis=-1)
        return self.mlp(windows)


@dataclass
class TrainingArgs:
    batch_size: int = 4
    epochs: int = 1
    context: int = 4


def make_training_args(cfg):
    args = TrainingArgs(batch_size=cfg["batch_size"], epochs=cfg["epochs"], context=cfg["context"])
    args.mask_prompt = cfg["train_on_responses_only"]   # the attribute the masking code reads
    return args


def loss_mask(seqs, offsets, k, args):
    T = seqs.shape[1]
    pos = np.arange(k, T)[None, :]                 # positions of the predicted tokens
    if not getattr(args, "mask_prompt", False):    # prompt masking off -> supervise everything
        offsets = np.zeros_like(offsets)
    mask = (pos >= offsets[:, None]).astype(np.float32)
    return mx.array(mask)


def loss_fn(model, toks, mask, k):
    logits = model(toks)
    ce = nn.losses.cross_entropy(logits, toks[:, k:], reduction="none")
    return (ce * mask).sum() / mask.sum()


def answer_exact_match(model, seqs, offsets, k):
    toks = mx.array(seqs)
    pred = mx.argmax(model(toks), axis=-1)          # teacher-forced next-token predictions
    pred = np.array(pred)
    ok = 0
    for i in range(seqs.shape[0]):
        o = offsets[i]
        ok += int(np.all(pred[i, o - k:o - k + 2] == seqs[i, o:o + 2]))
    return ok / seqs.shape[0]


def main():
    t0 = time.time()
    args = make_training_args(CONFIG)
    k = args.context
    tr_seqs, tr_off, _ = build(2000, 1)
    va_seqs, va_off, _ = build(300, 2)
    mx.random.seed(0)
    model = WindowLM(k)
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=CONFIG["lr"], momentum=CONFIG["momentum"])
    vg = nn.value_and_grad(model, loss_fn)
    bs = args.batch_size
    print(f"train_on_responses_only={CONFIG['train_on_responses_only']}  "
          f"seq_len={tr_seqs.shape[1]}  examples={len(tr_seqs)}")
    print(f"{'epoch':>5} {'train_loss':>10} {'answer_em':>9}")
    for ep in range(1, args.epochs + 1):
        perm = np.random.default_rng(ep).permutation(len(tr_seqs))
        tot, nb = 0.0, 0
        for i in range(0, len(perm) - bs + 1, bs):
            idx = perm[i:i + bs]
            toks = mx.array(tr_seqs[idx])
            mask = loss_mask(tr_seqs[idx], tr_off[idx], k, args)
            loss, grads = vg(model, toks, mask, k)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        em = answer_exact_match(model, va_seqs, va_off, k)
        print(f"{ep:>5} {tot / nb:>10.4f} {em:>9.3f}")
    print(f"final held-out answer exact-match: {em:.3f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
