"""Tiny DPO fine-tune of a bigram token model on pairwise preferences.

Chosen replies climb the vocabulary one step at a time (a 'polite' pattern); rejected
replies wander at random.  Policy and a frozen reference start from the same
supervised-pretrained weights.
"""
import copy
import time
from typing import Dict, List

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V = 24          # vocabulary
BETA = 0.1


class BigramLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.out = nn.Linear(32, V)

    def __call__(self, tokens):
        return self.out(nn.gelu(self.emb(tokens)))


def make_reply(rng, good):
    n = int(rng.integers(5, 12))
    start = int(rng.integers(0, V))
    if good:
        seq = [(start + i) % V for i in range(n)]
    else:
        seq = [(start + i) % V for i in range(n)]
        for j in rng.choice(np.arange(1, n), 2, replace=False):   # two glitches
            seq[j] = int(rng.integers(0, V))
    return np.array(seq, dtype=np.int32)


class PairwiseDataset:
    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self.pairs = [(make_reply(rng, True), make_reply(rng, False)) for _ in range(n)]

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        chosen, rejected = self.pairs[i]
        out = {}
        for key, seq in (("chosen", chosen), ("rejected", rejected)):
            tok = mx.array(seq)
            out[key] = (tok, mx.ones((tok.shape[0],), dtype=mx.float32))
        return out

    def get_batch(self, indices: List[int]) -> Dict[str, mx.array]:
        batch = {"chosen_tokens": [], "rejected_tokens": [], "chosen_masks": [], "rejected_masks": []}
        for i in indices:
            ex = self[i]
            for key in ("chosen", "rejected"):
                token, mask = ex[key]
                batch[f"{key}_tokens"].append(token)
                batch[f"{key}_masks"].append(mask)

        max_len = max(t.shape[0] for key in ("chosen", "rejected") for t in batch[f"{key}_tokens"])

        out: Dict[str, mx.array] = {}
        for key in ("chosen", "rejected"):
            padded_tokens, padded_masks = [], []
            for token, mask in zip(batch[f"{key}_tokens"], batch[f"{key}_masks"]):
                pad = max_len - token.shape[0]
                padded_tokens.append(mx.pad(token, [(0, pad)], constant_values=0))
                padded_masks.append(mx.pad(mask, [(0, pad)], constant_values=0))

            out = {
                f"{key}_tokens": mx.stack(padded_tokens),
                f"{key}_masks": mx.stack(padded_masks),
            }

        return out


def seq_logps(model, tokens, masks):
    logits = model(tokens[:, :-1])
    logp = nn.log_softmax(logits, axis=-1)
    tgt = mx.take_along_axis(logp, tokens[:, 1:, None], axis=-1).squeeze(-1)
    return (tgt * masks[:, 1:]).sum(-1)


def dpo_loss(policy, reference, batch):
    pc = seq_logps(policy, batch["chosen_tokens"], batch["chosen_masks"])
    pr = seq_logps(policy, batch["rejected_tokens"], batch["rejected_masks"])
    rc = mx.stop_gradient(seq_logps(reference, batch["chosen_tokens"], batch["chosen_masks"]))
    rr = mx.stop_gradient(seq_logps(reference, batch["rejected_tokens"], batch["rejected_masks"]))
    margin = BETA * ((pc - rc) - (pr - rr))
    loss = -nn.log_sigmoid(margin).mean()
    return loss, (margin > 0).astype(mx.float32).mean()


def main():
    mx.random.seed(0)
    train = PairwiseDataset(1200, 1)
    val = PairwiseDataset(200, 2)

    # 'pretrained' model: a short SFT on an even mix of both kinds of reply
    policy = BigramLM()
    sft_opt = optim.Adam(learning_rate=1e-2)
    rng = np.random.default_rng(3)
    sft_data = [make_reply(rng, g) for g in ([True] * 300 + [False] * 300)]

    def sft_loss(m, seqs):
        logits = m(seqs[:, :-1])
        return nn.losses.cross_entropy(logits, seqs[:, 1:], reduction="mean")

    sft_vg = nn.value_and_grad(policy, sft_loss)
    for step in range(150):
        idx = rng.integers(0, len(sft_data), 32)
        seqs = mx.array(np.stack([s[:5] for s in (sft_data[i] for i in idx)]))
        _, g = sft_vg(policy, seqs)
        sft_opt.update(policy, g)
        mx.eval(policy.parameters(), sft_opt.state)

    reference = copy.deepcopy(policy)
    reference.freeze()

    opt = optim.AdamW(learning_rate=4e-4, weight_decay=0.0)
    loss_and_grad = nn.value_and_grad(policy, lambda m, b: dpo_loss(m, reference, b))

    def validate():
        vb = val.get_batch(list(range(len(val))))
        l, acc = dpo_loss(policy, reference, vb)
        return l.item(), acc.item()

    bs, t0 = 16, time.time()
    order = np.random.default_rng(7).permutation(len(train))
    for step in range(1, 1201):
        start = ((step - 1) * bs) % (len(train) - bs)
        batch = train.get_batch(order[start:start + bs].tolist())
        (loss, acc), grads = loss_and_grad(policy, batch)
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss, acc)
        if step == 1 or step % 100 == 0:
            vl, va = validate()
            print(f"[dpo] step {step:4d} | loss {loss.item():.4f} | reward_acc {acc.item():.3f} "
                  f"| val_loss {vl:.4f} | val_reward_acc {va:.3f} | {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
