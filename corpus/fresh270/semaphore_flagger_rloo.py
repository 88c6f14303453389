"""Semaphore flag signaller: a small recurrent policy learns to wave the
6-position flag sequence for each of 24 harbour call-words.

The policy samples whole sequences (temperature + top-k, one position at a
time with the recurrent state carried between positions), a signal-book
verifier scores them, and the policy is updated with REINFORCE using a
leave-one-out (RLOO) baseline inside each group of samples.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_WORDS = 24      # call-words (prompts)
N_POS = 8         # flag positions (vocabulary)
SEQ = 6           # positions per call-word
BOS = N_POS       # start token id
HID = 64
GROUP = 6         # samples per call-word
BATCH = 16        # call-words per step
STEPS = 300
TOP_K = 4

rng = np.random.default_rng(7)
# the signal book: each call-word has one correct flag sequence
BOOK = rng.integers(0, N_POS, size=(N_WORDS, SEQ))
BOOK_MX = mx.array(BOOK)


class GRUCell(nn.Module):
    def __init__(self, d_in, d_h):
        super().__init__()
        self.x2h = nn.Linear(d_in, 3 * d_h)
        self.h2h = nn.Linear(d_h, 3 * d_h, bias=False)

    def __call__(self, x, h):
        xr, xz, xn = mx.split(self.x2h(x), 3, axis=-1)
        hr, hz, hn = mx.split(self.h2h(h), 3, axis=-1)
        r = mx.sigmoid(xr + hr)
        z = mx.sigmoid(xz + hz)
        n = mx.tanh(xn + r * hn)
        return (1 - z) * n + z * h


class Flagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.word = nn.Embedding(N_WORDS, HID)
        self.tok = nn.Embedding(N_POS + 1, 32)
        self.cell = GRUCell(32, HID)
        self.out = nn.Linear(HID, N_POS)

    def init_state(self, words):
        return mx.tanh(self.word(words))

    def step(self, prev_tok, h):
        h = self.cell(self.tok(prev_tok), h)
        return self.out(h), h

    def logits_teacher(self, words, seqs):
        """Logits for every position given the sampled tokens so far."""
        h = self.init_state(words)
        prev = mx.full((words.shape[0],), BOS, dtype=mx.int32)
        outs = []
        for t in range(SEQ):
            lg, h = self.step(prev, h)
            outs.append(lg)
            prev = seqs[:, t]
        return mx.stack(outs, axis=1)


def shape_logits(logits, temp):
    """Temperature then top-k: the distribution actually sampled from."""
    logits = logits / temp
    kth = mx.sort(logits, axis=-1)[..., -TOP_K][..., None]
    return mx.where(logits < kth, -1e9, logits)


def rollout(model, words, temp):
    h = model.init_state(words)
    prev = mx.full((words.shape[0],), BOS, dtype=mx.int32)
    toks = []
    for _ in range(SEQ):
        lg, h = model.step(prev, h)
        prev = mx.random.categorical(shape_logits(lg, temp)).astype(mx.int32)
        toks.append(prev)
    seqs = mx.stack(toks, axis=1)
    return mx.stop_gradient(seqs)


def reward(words, seqs):
    target = BOOK_MX[words]
    match = (seqs == target).astype(mx.float32).mean(axis=1)
    # the signal is only read if the last flag is held correctly
    last_ok = (seqs[:, -1] == target[:, -1]).astype(mx.float32)
    return match + 0.25 * last_ok


def loss_fn(model, words, seqs, adv, temp):
    lg = shape_logits(model.logits_teacher(words, seqs), temp)
    logp_all = nn.log_softmax(lg, axis=-1)
    logp = mx.take_along_axis(logp_all, seqs[..., None], axis=-1).squeeze(-1)
    p = mx.softmax(lg, axis=-1)
    ent = -(p * logp_all).sum(-1).mean()
    pg = -(adv[:, None] * logp).mean()
    return pg - 0.01 * ent, (ent,)


def temperature(step):
    # anneal 1.4 -> 0.7 over the run
    return 1.4 - 0.7 * step / (STEPS - 1)


def greedy_score(model, words):
    h = model.init_state(words)
    prev = mx.full((words.shape[0],), BOS, dtype=mx.int32)
    toks = []
    for _ in range(SEQ):
        lg, h = model.step(prev, h)
        prev = mx.argmax(lg, axis=-1).astype(mx.int32)
        toks.append(prev)
    return reward(words, mx.stack(toks, axis=1)).mean().item()


def main():
    mx.random.seed(11)
    model = Flagger()
    mx.eval(model.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 30), optim.cosine_decay(3e-3, STEPS - 30, 3e-4)],
        [30],
    )
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    all_words = mx.arange(N_WORDS)
    rand_seq = mx.array(rng.integers(0, N_POS, size=(N_WORDS, SEQ)))
    print("signal book:", N_WORDS, "call-words x", SEQ, "flags,", N_POS, "positions")
    print("random-waving reward ; max reward =", round(reward(all_words, rand_seq).mean().item(), 3), "; 1.25")
    print("step ; lr_used ; temp ; sampled_reward ; greedy_reward ; surrogate ; entropy_nats ; secs")

    t0 = time.time()
    win_r = []
    for step in range(STEPS):
        temp = temperature(step)
        lr_used = float(sched(opt.step).item())
        words = mx.array(rng.choice(N_WORDS, size=BATCH, replace=False))
        words_g = mx.repeat(words, GROUP)
        seqs = rollout(model, words_g, temp)
        r = reward(words_g, seqs).reshape(BATCH, GROUP)
        loo = (r.sum(axis=1, keepdims=True) - r) / (GROUP - 1)
        adv = (r - loo).reshape(-1)
        (loss, (ent,)), grads = vg(model, words_g, seqs, adv, temp)
        if step == 0:
            from mlx.utils import tree_flatten
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).sum().item()) == 0.0]
            print("# first-step gradient leaves with zero grad:", zero if zero else "none")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, ent, r)
        win_r.append(r.mean().item())
        if step % 25 == 0 or step == STEPS - 1:
            g = greedy_score(model, all_words)
            print(step, f"{lr_used:.2e}", f"{temp:.2f}", f"{np.mean(win_r):.3f}", f"{g:.3f}",
                  f"{loss.item():+.4f}", f"{ent.item():.3f}", f"{time.time()-t0:.1f}", sep=" ; ")
            win_r = []
    g = greedy_score(model, all_words)
    print(f"final greedy reward {g:.3f} of 1.25 ; random {reward(all_words, rand_seq).mean().item():.3f}")


if __name__ == "__main__":
    main()
