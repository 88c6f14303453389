"""Quillwort field-key ORPO run.

A tiny character LM learns to answer a herbarium field-key prompt (a row of
spore-marking letters followed by '>') with the letters in reverse order.
Raw rows come from the survey sheet as question / better / worse columns and
a formatting function maps them onto prompt / chosen / rejected.
"""
import time
from collections.abc import Mapping

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
np.random.seed(SEED)
mx.random.seed(SEED)

LETTERS = "abcdefghij"


class SporeTokenizer:
    def __init__(self):
        self.pad_token_id = 0
        self.eos_token_id = 1
        self.itos = ["<pad>", "<eos>", ">"] + list(LETTERS)
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.vocab_size = len(self.itos)

    def encode(self, text):
        return [self.stoi[c] for c in text]


def survey_sheet(n, rng):
    rows = []
    for _ in range(n):
        k = int(rng.integers(3, 8))
        q = "".join(rng.choice(list(LETTERS), size=k))
        good = q[::-1]
        bad = list(good)
        i, j = rng.choice(k, size=2, replace=False)
        bad[i], bad[j] = bad[j], bad[i]
        if "".join(bad) == good:
            bad[i] = LETTERS[(LETTERS.index(bad[i]) + 1) % len(LETTERS)]
        rows.append({"question": q, "better": good, "worse": "".join(bad)})
    return rows


def sheet_to_pair(row):
    return {
        "prompt": row["question"] + ">",
        "chosen": row["better"],
        "rejected": row["worse"],
    }


def create_preference_batches(dataset, tokenizer, batch_size, max_seq_length,
                              prompt_key="prompt", chosen_key="chosen",
                              rejected_key="rejected", pad_to_multiple=8,
                              seed=None, append_eos=True,
                              formatting_func=None):
    """Concatenated [chosen; rejected] batches: (2B, L) ids and (2B, 2) spans."""
    eos_id = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id

    def _with_eos(ids):
        if append_eos and (not ids or ids[-1] != eos_id):
            ids = ids + [eos_id]
        return ids

    rows = []
    for raw_ex in dataset:
        ex = formatting_func(raw_ex) if formatting_func is not None else raw_ex
        if formatting_func is not None and not isinstance(ex, Mapping):
            raise ValueError(
                "preference rows: formatting_func must provide mapping rows; "
                f"got {type(ex).__name__}."
            )
        if prompt_key not in ex or chosen_key not in ex or rejected_key not in ex:
            raise ValueError(
                f"ORPO requires '{prompt_key}', '{chosen_key}', '{rejected_key}' "
                f"columns; got {sorted(ex.keys())}."
            )
        p_ids = tokenizer.encode(ex[prompt_key])
        c_ids = _with_eos(p_ids + tokenizer.encode(ex[chosen_key]))[:max_seq_length]
        r_ids = _with_eos(p_ids + tokenizer.encode(ex[rejected_key]))[:max_seq_length]
        rows.append((len(p_ids), c_ids, r_ids))

    rows.sort(key=lambda t: max(len(t[1]), len(t[2])))
    batches = []
    for s in range(0, len(rows) - batch_size + 1, batch_size):
        chunk = rows[s:s + batch_size]
        lmax = max(max(len(c), len(r)) for _, c, r in chunk)
        lmax = ((lmax + pad_to_multiple - 1) // pad_to_multiple) * pad_to_multiple
        lmax = min(lmax, max_seq_length)
        chosen_rows, rejected_rows, c_len, r_len = [], [], [], []
        for pe, c, r in chunk:
            chosen_rows.append(c + [pad_id] * (lmax - len(c)))
            rejected_rows.append(r + [pad_id] * (lmax - len(r)))
            c_len.append([pe, len(c)])
            r_len.append([pe, len(r)])
        batch = mx.array(np.array(chosen_rows + rejected_rows, dtype=np.int32))
        lengths = mx.array(np.array(c_len + r_len, dtype=np.int32))
        batches.append((batch, lengths))
    order = np.random.default_rng(seed).permutation(len(batches))
    return [batches[i] for i in order]


class SporeLM(nn.Module):
    def __init__(self, vocab, dims=48, heads=4, layers=1, max_len=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.body = nn.TransformerEncoder(layers, dims, heads, mlp_dims=4 * dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, ids):
        L = ids.shape[1]
        h = self.tok(ids) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.head(self.body(h, mask))


def sequence_logps(model, batch, lengths):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    logp = -nn.losses.cross_entropy(logits, targets, reduction="none")
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = (steps >= lengths[:, 0:1]) & (steps < lengths[:, 1:])
    mask = mask.astype(mx.float32)
    tok = mask.sum(axis=1)
    return (logp * mask).sum(axis=1), tok


def orpo_loss(model, batch, lengths, beta):
    sums, toks = sequence_logps(model, batch, lengths)
    B = batch.shape[0] // 2
    avg = sums / toks
    avg_c, avg_r = avg[:B], avg[B:]
    log_odds = (avg_c - avg_r) - (
        mx.log1p(-mx.exp(avg_c) + 1e-6) - mx.log1p(-mx.exp(avg_r) + 1e-6)
    )
    ratio = -nn.log_sigmoid(log_odds)
    nll = -sums[:B].sum() / toks[:B].sum()
    loss = nll + beta * ratio.mean()
    acc = (avg_c > avg_r).astype(mx.float32).mean()
    return loss, (nll, ratio.mean(), acc)


class PairTrainer:
    def __init__(self, model, tokenizer, train_rows, eval_rows, formatting_func,
                 batch_size=16, max_seq_length=24, steps=200, lr=3e-3, beta=0.2):
        self.model = model
        self.tokenizer = tokenizer
        self.train_rows = train_rows
        self.eval_rows = eval_rows
        self.formatting_func = formatting_func
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.steps = steps
        self.beta = beta
        self.optimizer = optim.AdamW(learning_rate=lr, weight_decay=0.01)

    def _prepare_data(self, rows, seed):
        return create_preference_batches(
            rows, self.tokenizer, self.batch_size, self.max_seq_length,
            seed=seed,
            formatting_func=self.formatting_func,
        )

    def evaluate(self, batches):
        accs, nlls = [], []
        for batch, lengths in batches:
            _, (nll, _, acc) = orpo_loss(self.model, batch, lengths, self.beta)
            accs.append(acc.item())
            nlls.append(nll.item())
        return float(np.mean(nlls)), float(np.mean(accs))

    def train(self):
        train_batches = self._prepare_data(self.train_rows, seed=SEED)
        eval_batches = self._prepare_data(self.eval_rows, seed=SEED + 1)
        print(f"pairs: train {len(self.train_rows)} / eval {len(self.eval_rows)}"
              f" -> {len(train_batches)} train batches of {self.batch_size} pairs")
        nll0, acc0 = self.evaluate(eval_batches)
        print(f"before training: eval chosen-nll {nll0:.3f} | eval pref-acc {acc0:.3f}")

        def step_loss(model, batch, lengths):
            loss, aux = orpo_loss(model, batch, lengths, self.beta)
            return loss, aux

        loss_and_grad = nn.value_and_grad(self.model, step_loss)
        tic = time.perf_counter()
        for step in range(1, self.steps + 1):
            batch, lengths = train_batches[(step - 1) % len(train_batches)]
            (loss, (nll, ratio, acc)), grads = loss_and_grad(self.model, batch, lengths)
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.parameters(), self.optimizer.state)
            if step % 40 == 0 or step == 1:
                print(f"step {step:4d} | loss {loss.item():.4f} | nll {nll.item():.4f}"
                      f" | or-term {ratio.item():.4f} | pref-acc {acc.item():.3f}"
                      f" | {time.perf_counter() - tic:.1f}s")
        nll1, acc1 = self.evaluate(eval_batches)
        print(f"after training: eval chosen-nll {nll1:.3f} | eval pref-acc {acc1:.3f}")
        return nll1, acc1


def main():
    rng = np.random.default_rng(SEED)
    tok = SporeTokenizer()
    train_rows = survey_sheet(1600, rng)
    eval_rows = survey_sheet(256, rng)
    model = SporeLM(tok.vocab_size)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"SporeLM params: {n_params}")
    trainer = PairTrainer(model, tok, train_rows, eval_rows, sheet_to_pair)
    trainer.train()


if __name__ == "__main__":
    main()
