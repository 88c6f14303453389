# Tiny DPO run: a bigram "policy" LM is tuned on preference pairs against a frozen reference copy.
import copy
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB, DIM, SEQ = 32, 48, 10
BETA = 0.1
rng = np.random.default_rng(7)


class BigramLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.hidden = nn.Linear(DIM, DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, tokens):
        h = nn.gelu(self.hidden(self.embed(tokens)))
        return self.head(h)


def seq_logps(model, seqs, masks):
    logits = model(seqs[:, :-1])
    logp = nn.log_softmax(logits, axis=-1)
    tok = mx.take_along_axis(logp, seqs[:, 1:, None], axis=-1).squeeze(-1)
    return (tok * masks[:, 1:]).sum(axis=-1)


def make_pairs(n):
    # prompt = 3 random tokens; chosen continues with "polite" tokens 0..7, rejected with 24..31
    prompt = rng.integers(8, 24, size=(n, 3))
    good = rng.integers(0, 8, size=(n, SEQ - 3))
    bad = rng.integers(24, 32, size=(n, SEQ - 3))
    flip = rng.random(n) < 0.15  # annotator noise: some pairs are labelled the wrong way round
    good, bad = np.where(flip[:, None], bad, good), np.where(flip[:, None], good, bad)
    chosen = np.concatenate([prompt, good], axis=1)
    rejected = np.concatenate([prompt, bad], axis=1)
    mask = np.ones((n, SEQ), dtype=np.float32)
    mask[:, :3] = 0.0
    return mx.array(chosen), mx.array(rejected), mx.array(mask), mx.array(mask)


train = make_pairs(512)
val = make_pairs(128)

policy = BigramLM()
mx.eval(policy.parameters())
reference = copy.deepcopy(policy)
reference.freeze()
optimizer = optim.Adam(learning_rate=4e-4)


def dpo_loss(pc, pr, rc, rr):
    logits = (pc - rc) - (pr - rr)
    loss = -nn.log_sigmoid(BETA * logits).mean()
    chosen_r = BETA * (pc - rc)
    rejected_r = BETA * (pr - rr)
    return loss, chosen_r.mean(), rejected_r.mean(), (chosen_r > rejected_r).mean()


def loss_wrapper(policy_chosen_score, policy_rejected_score, ref_chosen_score, ref_rejected_score):
    loss, cr, rr, acc = dpo_loss(policy_chosen_score, policy_rejected_score,
                                 ref_chosen_score, ref_rejected_score)
    return loss, (cr, rr, acc)


loss_value_and_grad = nn.value_and_grad(policy, loss_wrapper)


def step(chosen, rejected, c_mask, r_mask):
    policy_chosen_score = seq_logps(policy, chosen, c_mask)
    policy_rejected_score = seq_logps(policy, rejected, r_mask)
    ref_chosen_score = mx.stop_gradient(seq_logps(reference, chosen, c_mask))
    ref_rejected_score = mx.stop_gradient(seq_logps(reference, rejected, r_mask))
    (loss, (cr, rr, acc)), grad = loss_value_and_grad(
        policy_chosen_score, policy_rejected_score, ref_chosen_score, ref_rejected_score
    )
    optimizer.update(policy, grad)
    return loss, cr, rr, acc


def evaluate():
    c, r, cm, rm = val
    loss, cr, rr, acc = dpo_loss(seq_logps(policy, c, cm), seq_logps(policy, r, rm),
                                 seq_logps(reference, c, cm), seq_logps(reference, r, rm))
    return loss.item(), acc.item()


ITERS, BS = 300, 32
tic = time.perf_counter()
v_loss, v_acc = evaluate()
print(f"Iter 1: Val loss {v_loss:.4f}, Val accuracy {v_acc:.3f}")
n = train[0].shape[0]
for it in range(1, ITERS + 1):
    idx = mx.array(rng.choice(n, BS, replace=False))
    batch = [t[idx] for t in train]
    loss, cr, rr, acc = step(*batch)
    mx.eval(policy.parameters(), optimizer.state, loss, cr, rr, acc)
    if it % 20 == 0:
        print(f"Iter {it}: Train loss {loss.item():.4f}, Chosen reward {cr.item():.3f}, "
              f"Rejected reward {rr.item():.3f}, Accuracy {acc.item():.3f}, "
              f"Margin {(cr - rr).item():.3f}, It/sec {it / (time.perf_counter() - tic):.1f}")
    if it % 100 == 0:
        v_loss, v_acc = evaluate()
        print(f"Iter {it}: Val loss {v_loss:.4f}, Val accuracy {v_acc:.3f}")
print("done")
