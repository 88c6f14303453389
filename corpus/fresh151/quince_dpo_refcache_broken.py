# Two-stage preference tuning of a tiny next-token model:
#   stage 1: supervised warm-up on the preferred continuations
#   stage 2: DPO against a frozen copy of the stage-1 model
# Reference log-probs are cached per (prompt, chosen, rejected) triple.
import copy
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
mx.random.seed(3)

ALPHABET = "abcdefghijklmnop"


class CharTokenizer:
    def __init__(self, alphabet):
        self.stoi = {c: i for i, c in enumerate(alphabet)}

    def encode(self, text):
        return [self.stoi[c] for c in text]


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=48):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(2 * dim, dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, ids):
        e = self.embed(ids)
        prev = mx.concatenate([mx.zeros_like(e[:, :1]), e[:, :-1]], axis=1)
        h = nn.gelu(self.mix(mx.concatenate([e, prev], axis=-1)))
        return self.head(h)


def seq_logprob(model, prompt_ids, completion_ids):
    full = mx.concatenate([prompt_ids, completion_ids])
    logits = model(full[None])[0]
    n_p = prompt_ids.shape[0]
    n_c = completion_ids.shape[0]
    lp = nn.log_softmax(logits[n_p - 1 : n_p - 1 + n_c].astype(mx.float32))
    return mx.take_along_axis(lp, completion_ids[:, None], axis=-1)[:, 0].sum()


def make_pairs(n):
    pairs = []
    for _ in range(n):
        start = random.randrange(0, 8)
        step = random.choice([1, 2])
        seq = ALPHABET[start::step]
        prompt = seq[:3]
        chosen = seq[3:7]
        rejected = "".join(random.sample(ALPHABET, 4))
        pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return pairs


tok = CharTokenizer(ALPHABET)
model = TinyLM(len(ALPHABET))
mx.eval(model.parameters())
train_pairs = make_pairs(256)

# ---------------- stage 1: SFT on chosen ----------------
sft_opt = optim.Adam(learning_rate=3e-3)


def sft_loss(model, batch):
    tot = []
    for s in batch:
        p = mx.array(tok.encode(s["prompt"]))
        c = mx.array(tok.encode(s["chosen"]))
        tot.append(-seq_logprob(model, p, c) / c.shape[0])
    return mx.mean(mx.stack(tot))


sft_vg = nn.value_and_grad(model, sft_loss)
print("== stage 1: sft ==")
for it in range(1, 81):
    batch = random.sample(train_pairs, 16)
    loss, grads = sft_vg(model, batch)
    sft_opt.update(model, grads)
    mx.eval(model.parameters(), sft_opt.state, loss)
    if it % 10 == 0:
        print(f"sft it {it:3d} nll/token {loss.item():.4f}")

# ---------------- stage 2: DPO ----------------
ref_model = copy.deepcopy(model)
ref_model.freeze()
beta = 0.2
dpo_opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.0)
ref_cache = {}


def ref_logprobs_pair(prompt_ids, chosen_ids, rejected_ids):
    key = (
        int(mx.sum(prompt_ids)),
        int(mx.sum(chosen_ids)),
        int(mx.sum(rejected_ids)),
    )
    if key in ref_cache:
        return ref_cache[key]
    p = mx.array(prompt_ids)
    ref_w = seq_logprob(ref_model, p, mx.array(chosen_ids))
    ref_l = seq_logprob(ref_model, p, mx.array(rejected_ids))
    mx.eval(ref_w, ref_l)
    ref_cache[key] = (ref_w, ref_l)
    return ref_w, ref_l


def dpo_loss(model, samples):
    losses, margins = [], []
    for s in samples:
        p = mx.array(s["prompt_ids"])
        pw = seq_logprob(model, p, mx.array(s["chosen_ids"]))
        pl = seq_logprob(model, p, mx.array(s["rejected_ids"]))
        z = beta * ((pw - s["ref_w"]) - (pl - s["ref_l"]))
        losses.append(-nn.log_sigmoid(z))
        margins.append(z)
    return mx.mean(mx.stack(losses)), mx.stack(margins)


dpo_vg = nn.value_and_grad(model, dpo_loss)
print("== stage 2: dpo ==")
for it in range(1, 201):
    samples = []
    for pair in random.sample(train_pairs, 16):
        prompt_ids = tok.encode(pair["prompt"])
        chosen_ids = tok.encode(pair["chosen"])
        rejected_ids = tok.encode(pair["rejected"])
        ref_w, ref_l = ref_logprobs_pair(prompt_ids, chosen_ids, rejected_ids)
        samples.append({"prompt_ids": prompt_ids, "chosen_ids": chosen_ids,
                        "rejected_ids": rejected_ids, "ref_w": ref_w, "ref_l": ref_l})
    (loss, margins), grads = dpo_vg(model, samples)
    dpo_opt.update(model, grads)
    mx.eval(model.parameters(), dpo_opt.state, loss, margins)
    if it % 10 == 0:
        acc = (margins > 0).astype(mx.float32).mean().item()
        print(f"DPO step {it}: loss={loss.item():.5f} reward_margin={margins.mean().item():.4f} "
              f"acc_chosen={acc:.3f} ref_cache={len(ref_cache)}")
print("done")
