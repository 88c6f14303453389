"""KTO preference tuning of a tiny character model on thumbs-up / thumbs-down
feedback: reviewers marked a completion desirable when it spelled the prompt
backwards, undesirable otherwise. After training we decode greedily."""
import random
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

LETTERS = "abcdefgh"


class CharTokenizer:
    pad_token_id = 0
    eos_token_id = 1

    def __init__(self):
        self.vocab = ["<pad>", "</s>", ">"] + list(LETTERS)
        self.index = {ch: i for i, ch in enumerate(self.vocab)}

    def __call__(self, text, add_special_tokens=True):
        ids = [self.index[ch] for ch in text]
        if add_special_tokens:
            ids = ids + [self.eos_token_id]
        return {"input_ids": ids}

    def decode(self, ids):
        return "".join(self.vocab[i] for i in ids if i > 1)


@dataclass
class KTOConfig:
    beta: float = 0.5
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0
    max_prompt_length: int = 8
    max_completion_length: int = 8
    max_length: int = 16
    append_eos: bool = True
    learning_rate: float = 3e-3
    per_device_train_batch_size: int = 64
    max_steps: int = 180
    logging_steps: int = 30


def _kto_tokenize_row(tokenizer, prompt, completion, args):
    """Tokenize one KTO row; the completion is kept whole and the prompt is
    trimmed from the left when the pair exceeds max_length, matching TRL's
    keep-completion policy."""
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"]
    # Ensure the completion ends with EOS so the model learns to terminate
    # (TRL's add_eos_token_if_needed); tokenizing with add_special_tokens=False
    # never adds one. Gated on the inherited append_eos flag, guarded against a
    # double EOS and a tokenizer with no eos_token.
    _eos = getattr(tokenizer, "eos_token_id", None)
    _want_eos = bool(getattr(args, "append_eos", True)) and _eos is not None
    _has_eos = bool(c) and c[-1] == _eos
    if _want_eos and not _has_eos:
        c = list(c) + [_eos]
        _has_eos = True

    def _cap_completion(seq, limit):
        # Truncate the completion to `limit`, PRESERVING a trailing EOS. This
        # deviates from TRL (which truncates then appends, dropping the EOS when
        # the completion is over-length): here the termination signal is kept by
        # trimming to limit-1 and re-appending the EOS.
        if limit <= 0:
            return seq[:0]
        if _want_eos and _has_eos and len(seq) > limit:
            return seq[:limit - 1] + [_eos]
        return seq[:limit]

    max_completion = args.max_completion_length
    if max_completion is not None and max_completion > 0:
        c = _cap_completion(c, max_completion)
    if args.max_prompt_length and args.max_prompt_length > 0:
        p = p[-args.max_prompt_length:]
    if args.max_length and args.max_length > 0 and len(p) + len(c) > args.max_length:
        # Keep the completion, trim the prompt from the left. If the completion
        # alone meets or exceeds max_length there is no room for the prompt AND
        # the completion itself must be capped to max_length (EOS preserved).
        keep = args.max_length - len(c)
        if keep > 0:
            p = p[-keep:]
        else:
            p = []
            c = _cap_completion(c, args.max_length)
    return p, c


class TinyLM(nn.Module):
    """Sliding-window neural LM: the next token is predicted from the embeddings
    of the previous `window` tokens (left-padded)."""

    def __init__(self, vocab, dim=16, window=8, hidden=128):
        super().__init__()
        self.window = window
        self.tok = nn.Embedding(vocab, dim)
        self.mlp = nn.Sequential(nn.Linear(window * dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, vocab))

    def __call__(self, x):
        B, L = x.shape
        padded = mx.concatenate([mx.zeros((B, self.window - 1), dtype=x.dtype), x], axis=1)
        ctx = mx.stack([padded[:, k:k + L] for k in range(self.window)], axis=2)
        return self.mlp(self.tok(ctx).reshape(B, L, -1))


def make_rows(n, rng):
    rows = []
    for _ in range(n):
        word = "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 5)))
        good = rng.random() < 0.5
        if good:
            comp = word[::-1]
        else:
            comp = "".join(rng.choice(LETTERS) for _ in range(len(word)))
            if comp == word[::-1]:
                comp = comp[1:] + comp[0]
        rows.append({"prompt": word + ">", "completion": comp, "label": good})
    return rows


def collate(tok_rows, width):
    B = len(tok_rows)
    ids = [[0] * width for _ in range(B)]
    cmask = [[0.0] * (width - 1) for _ in range(B)]
    for i, (p, c) in enumerate(tok_rows):
        seq = p + c
        ids[i][: len(seq)] = seq
        for t in range(len(p), len(seq)):
            cmask[i][t - 1] = 1.0
    return mx.array(ids), mx.array(cmask)


def seq_logps(model, ids, cmask):
    logits = model(ids[:, :-1])
    lp = nn.log_softmax(logits, axis=-1)
    tgt = mx.take_along_axis(lp, ids[:, 1:, None], axis=-1).squeeze(-1)
    return (tgt * cmask).sum(axis=1)


def kto_loss(model, ref, ids, cmask, kl_ids, kl_mask, labels, args):
    pol = seq_logps(model, ids, cmask)
    ref_lp = mx.stop_gradient(seq_logps(ref, ids, cmask))
    kl = (seq_logps(model, kl_ids, kl_mask) - seq_logps(ref, kl_ids, kl_mask)).mean()
    kl = mx.stop_gradient(mx.maximum(kl, 0.0))
    ratio = pol - ref_lp
    des = args.desirable_weight * (1 - mx.sigmoid(args.beta * (ratio - kl)))
    und = args.undesirable_weight * (1 - mx.sigmoid(args.beta * (kl - ratio)))
    loss = mx.where(labels, des, und).mean()
    return loss, (ratio, kl)


def greedy(model, tok, prompt, max_new=10):
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    out = []
    for _ in range(max_new):
        logits = model(mx.array([ids + out]))[0, -1]
        nxt = int(mx.argmax(logits).item())
        if nxt == tok.eos_token_id:
            return out, True
        out.append(nxt)
    return out, False


def main():
    rng = random.Random(0)
    mx.random.seed(0)
    args = KTOConfig()
    tok = CharTokenizer()
    train = make_rows(4000, rng)
    tokenized = [(_kto_tokenize_row(tok, r["prompt"], r["completion"], args), r["label"]) for r in train]
    width = args.max_length + 1
    print(f"rows {len(train)}  desirable {sum(r['label'] for r in train)}  "
          f"undesirable {sum(not r['label'] for r in train)}")
    print("example row:", train[0]["prompt"], "->", train[0]["completion"], "tokens", tokenized[0][0])

    model = TinyLM(len(tok.vocab))
    ref = TinyLM(len(tok.vocab))
    ref.update(tree_map(lambda a: mx.array(a), model.parameters()))
    ref.freeze()
    mx.eval(model.parameters(), ref.parameters())
    opt = optim.Adam(learning_rate=args.learning_rate)

    def loss_fn(m, *batch):
        return kto_loss(m, ref, *batch, args)

    vg = nn.value_and_grad(model, loss_fn)
    bs = args.per_device_train_batch_size
    t0 = time.time()
    run = []
    for step in range(1, args.max_steps + 1):
        batch = rng.sample(tokenized, bs)
        rows = [pc for pc, _ in batch]
        labels = mx.array([lab for _, lab in batch])
        kl_rows = [(rows[i][0], rows[(i + 1) % bs][1]) for i in range(bs)]
        ids, cmask = collate(rows, width)
        kl_ids, kl_mask = collate(kl_rows, width)
        (loss, (ratio, kl)), grads = vg(model, ids, cmask, kl_ids, kl_mask, labels)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, ratio, kl)
        run.append(loss.item())
        if step % args.logging_steps == 0:
            lab = [l for _, l in batch]
            r = ratio.tolist()
            ch = sum(x for x, l in zip(r, lab) if l) / max(1, sum(lab))
            rj = sum(x for x, l in zip(r, lab) if not l) / max(1, bs - sum(lab))
            print(f"step {step:4d} | loss {sum(run)/len(run):.4f} | kl {kl.item():.3f} | "
                  f"chosen logratio {ch:+.2f} | rejected logratio {rj:+.2f} | {time.time()-t0:.1f}s")
            run = []

    eval_rng = random.Random(123)
    stops, exact, lens = 0, 0, []
    samples = []
    for i in range(100):
        word = "".join(eval_rng.choice(LETTERS) for _ in range(eval_rng.randint(3, 5)))
        out, stopped = greedy(model, tok, word + ">")
        text = tok.decode(out)
        stops += stopped
        exact += stopped and text == word[::-1]
        lens.append(len(out))
        if i < 4:
            samples.append(f"  {word}> -> {text!r}{' <eos>' if stopped else ' ...'}")
    print("greedy samples:")
    print("\n".join(samples))
    print(f"eval: terminated {stops:.0f}% | exact reversal {exact:.0f}% | "
          f"mean generated length {sum(lens)/len(lens):.2f} (targets 3-5, cap 10)")


if __name__ == "__main__":
    main()
