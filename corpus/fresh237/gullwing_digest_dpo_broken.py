import copy
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

VOCAB = 40
PAD = 0
EOS = 1
FIRST = 2
MAX_SEQ_LENGTH = 48
BATCH_PAIRS = 8
BETA = 0.2
STEPS = 120
LR = 2e-3

random.seed(7)
mx.random.seed(7)


def make_ship_log(rng):
    n = rng.randint(50, 86)
    prompt = [rng.randrange(FIRST, VOCAB) for _ in range(n)]
    tail = prompt[-4:]
    chosen = [FIRST + (t - FIRST + 1) % (VOCAB - FIRST) for t in tail]
    rejected = [FIRST + (t - FIRST + 5) % (VOCAB - FIRST) for t in tail]
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def create_preference_batches(dataset, batch_size, max_seq_length, eos_id=EOS, pad_id=PAD):
    def _with_eos(ids):
        if not ids or ids[-1] != eos_id:
            ids = ids + [eos_id]
        return ids[:max_seq_length]

    rows = []
    for ex in dataset:
        p_ids = list(ex["prompt"])
        c_ids = _with_eos(p_ids + ex["chosen"])
        r_ids = _with_eos(p_ids + ex["rejected"])
        pe = min(len(p_ids), len(c_ids), len(r_ids))
        rows.append((pe, c_ids, r_ids))

    batches = []
    for i in range(0, len(rows) - batch_size + 1, batch_size):
        chunk = rows[i : i + batch_size]
        width = max(max(len(c), len(r)) for _, c, r in chunk)
        seqs, spans = [], []
        for pe, c, r in chunk:
            seqs.append(c + [pad_id] * (width - len(c)))
            spans.append((pe, len(c)))
        for pe, c, r in chunk:
            seqs.append(r + [pad_id] * (width - len(r)))
            spans.append((pe, len(r)))
        batches.append((mx.array(seqs, dtype=mx.int32), mx.array(spans, dtype=mx.int32)))
    return batches


class WindowLM(nn.Module):
    def __init__(self, vocab=VOCAB, dim=16, window=4, hidden=128):
        super().__init__()
        self.window = window
        self.tok = nn.Embedding(vocab, dim)
        self.mlp = nn.Sequential(nn.Linear(window * dim, hidden), nn.GELU(), nn.Linear(hidden, vocab))

    def __call__(self, ids):
        B, T = ids.shape
        padded = mx.concatenate([mx.full((B, self.window - 1), PAD, dtype=ids.dtype), ids], axis=1)
        ctx = mx.stack([padded[:, k : k + T] for k in range(self.window)], axis=-1)
        x = self.tok(ctx).reshape(B, T, -1)
        return self.mlp(x)


def span_logps(model, batch, spans):
    logits = model(batch[:, :-1]).astype(mx.float32)
    targets = batch[:, 1:]
    logp = nn.log_softmax(logits, axis=-1)
    tok = mx.take_along_axis(logp, targets[..., None], axis=-1).squeeze(-1)
    pos = mx.arange(targets.shape[1])[None, :] + 1
    mask = (pos >= spans[:, :1]) & (pos < spans[:, 1:2])
    return (tok * mask).sum(-1), mask.sum(-1)


def dpo_loss(model, ref_logps, batch, spans):
    logps, ntok = span_logps(model, batch, spans)
    B = batch.shape[0] // 2
    pc, pr = logps[:B], logps[B:]
    rc, rr = ref_logps[:B], ref_logps[B:]
    logits = BETA * ((pc - rc) - (pr - rr))
    loss = -nn.log_sigmoid(logits).mean()
    return loss, (logits > 0).astype(mx.float32).mean(), logits.mean() / BETA, ntok.sum()


def main():
    rng = random.Random(11)
    train = [make_ship_log(rng) for _ in range(640)]
    valid = [make_ship_log(rng) for _ in range(128)]
    train_batches = create_preference_batches(train, BATCH_PAIRS, MAX_SEQ_LENGTH)
    valid_batches = create_preference_batches(valid, BATCH_PAIRS, MAX_SEQ_LENGTH)
    print(f"pairs: train={len(train)} valid={len(valid)} batches={len(train_batches)} max_seq_length={MAX_SEQ_LENGTH}")

    policy = WindowLM()
    reference = copy.deepcopy(policy)
    reference.freeze()
    mx.eval(policy.parameters(), reference.parameters())
    nparams = sum(v.size for _, v in tree_flatten(policy.trainable_parameters()))
    print(f"policy params: {nparams}")

    opt = optim.AdamW(learning_rate=LR, weight_decay=0.0)
    loss_and_grad = nn.value_and_grad(policy, dpo_loss)

    def evaluate():
        tot, acc, mar, n = 0.0, 0.0, 0.0, 0
        for batch, spans in valid_batches:
            ref, _ = span_logps(reference, batch, spans)
            l, a, m, _ = dpo_loss(policy, mx.stop_gradient(ref), batch, spans)
            tot += l.item(); acc += a.item(); mar += m.item(); n += 1
        return tot / n, acc / n, mar / n

    vl, va, vm = evaluate()
    print(f"init  val_loss={vl:.4f} val_pref_acc={va:.3f} val_margin={vm:+.3f}")

    t0 = time.time()
    step = 0
    while step < STEPS:
        order = list(range(len(train_batches)))
        random.shuffle(order)
        for bi in order:
            if step >= STEPS:
                break
            batch, spans = train_batches[bi]
            ref, _ = span_logps(reference, batch, spans)
            ref = mx.stop_gradient(ref)
            (loss, acc, margin, ntok), grads = loss_and_grad(policy, ref, batch, spans)
            gnorm = mx.sqrt(sum((g * g).sum() for _, g in tree_flatten(grads)))
            opt.update(policy, grads)
            mx.eval(policy.parameters(), opt.state, loss, acc, margin, gnorm)
            step += 1
            if step % 20 == 0 or step == 1:
                print(f"step {step:4d} | loss {loss.item():.4f} | pref_acc {acc.item():.3f} | margin {margin.item():+.3f} | grad_norm {gnorm.item():.4f} | resp_tokens {int(ntok.item())}")
    vl, va, vm = evaluate()
    print(f"final val_loss={vl:.4f} val_pref_acc={va:.3f} val_margin={vm:+.3f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
