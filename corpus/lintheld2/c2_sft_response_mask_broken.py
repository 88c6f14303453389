"""Supervised fine-tuning with a prompt/response loss mask on a toy 'instruction' corpus.

prompt: 3-5 tokens from the prompt vocabulary
response: r0 = answer(prompt[-1]), r1 = follow(r0), r2 = follow(r1), then EOS, then PAD
only response tokens (and EOS) should be trained on.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAD, EOS = 0, 1
P_LO, P_HI = 2, 18       # prompt vocabulary
R_LO, R_HI = 18, 34      # response vocabulary
VOCAB, MAXLEN = 34, 12


def build_corpus(n, rng):
    answer = rng.permutation(np.arange(R_LO, R_HI))          # prompt token -> first answer token
    follow = rng.permutation(np.arange(R_LO, R_HI))          # answer token -> next answer token
    toks = np.full((n, MAXLEN), PAD, dtype=np.int32)
    resp_mask = np.zeros((n, MAXLEN), dtype=np.float32)
    for i in range(n):
        plen = rng.integers(3, 6)
        prompt = rng.integers(P_LO, P_HI, size=plen)
        r0 = answer[prompt[-1] - P_LO]
        r1 = follow[r0 - R_LO]
        r2 = follow[r1 - R_LO]
        seq = list(prompt) + [r0, r1, r2, EOS]
        toks[i, :len(seq)] = seq
        resp_mask[i, plen:len(seq)] = 1.0
    return toks, resp_mask


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=48):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, vocab))

    def __call__(self, ids):
        return self.mlp(self.embed(ids))


def masked_nll(lm, toks, mask):
    inputs, targets = toks[:, :-1], toks[:, 1:]
    logp = nn.log_softmax(lm(inputs), axis=-1)
    token_nll = -mx.take_along_axis(logp, targets[..., None], axis=-1).squeeze(-1)
    weights = mask[:, :-1]
    return (token_nll * weights).sum() / weights.sum()


def first_answer_accuracy(lm, toks, mask):
    # position of the last prompt token = first response position - 1
    first = np.argmax(np.array(mask) > 0, axis=1)
    rows = np.arange(len(first))
    last_prompt = mx.array(np.array(toks)[rows, first - 1])
    want = mx.array(np.array(toks)[rows, first])
    pred = mx.argmax(lm(last_prompt), axis=-1)
    return (pred == want).mean().item()


if __name__ == "__main__":
    rng = np.random.default_rng(4)
    mx.random.seed(4)
    train_t, train_m = build_corpus(2000, rng)
    lm = TinyLM(VOCAB)
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(lm, masked_nll)
    t0 = time.time()
    for epoch in range(4):
        order = rng.permutation(len(train_t))
        for s in range(0, len(order), 100):
            j = order[s:s + 100]
            loss, g = vg(lm, mx.array(train_t[j]), mx.array(train_m[j]))
            opt.update(lm, g)
            mx.eval(lm.parameters(), opt.state)
        print(f"epoch {epoch}  masked loss {loss.item():.4f}")
    rng_eval = np.random.default_rng(4)            # same seed -> same answer tables
    eval_t, eval_m = build_corpus(2000, rng_eval)
    acc = first_answer_accuracy(lm, mx.array(eval_t), mx.array(eval_m))
    print(f"accuracy of first answer token after the prompt: {acc:.3f}  ({time.time() - t0:.1f}s)")
