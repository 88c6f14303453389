"""Toy ORPO (odds-ratio preference optimisation) run on a tiny bigram LM.

The model is kept in float16 to mimic half-precision preference tuning.
Each step draws a batch of (chosen, rejected) continuations: chosen ones
follow the "good" transition rule, rejected ones the "bad" rule.
Loss = NLL(chosen) + beta * -log sigmoid(log_odds(chosen) - log_odds(rejected)).
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("orpo")

mx.random.seed(0)
VOCAB, DIM, SEQ, BATCH, BETA = 12, 32, 10, 16, 0.1
STEPS = 1500


class BigramLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.hidden = nn.Linear(DIM, DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, tokens):
        return self.head(nn.gelu(self.hidden(self.emb(tokens))))


def good_rule(t):
    return (t * 5 + 3) % VOCAB


def bad_rule(t):
    return (t * 7 + 1) % VOCAB


def sample_pairs(n):
    def roll(rule):
        cur = mx.random.randint(0, VOCAB, (n, 1))
        out = [cur]
        for _ in range(SEQ - 1):
            cur = rule(cur)
            out.append(cur)
        return mx.concatenate(out, axis=1)
    return roll(good_rule), roll(bad_rule)


def seq_logp(model, seqs):
    ce = nn.losses.cross_entropy(model(seqs[:, :-1]), seqs[:, 1:], reduction="none")
    return -ce.mean(axis=1)  # length-normalised log-prob per sequence


def log_odds(logp):
    # log(p / (1 - p)) with 1 - p = -expm1(logp), floored for stability.
    # Done in float32: in float16 the 1e-12 floor itself rounds to 0.
    logp = logp.astype(mx.float32)
    return logp - mx.log(mx.maximum(-mx.expm1(logp), mx.array(1e-12, dtype=mx.float32)))


def orpo_loss(model, chosen, rejected):
    lp_c = seq_logp(model, chosen)
    lp_r = seq_logp(model, rejected)
    nll = -lp_c.mean()
    ratio = -nn.log_sigmoid(log_odds(lp_c) - log_odds(lp_r)).mean()
    pref_acc = (lp_c > lp_r).astype(mx.float32).mean()
    return nll + BETA * ratio, (nll, ratio, pref_acc)


model = BigramLM()
model.set_dtype(mx.float16)
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.5, momentum=0.9)
step_fn = nn.value_and_grad(model, orpo_loss)

t0 = time.time()
for step in range(1, STEPS + 1):
    chosen, rejected = sample_pairs(BATCH)
    (loss, (nll, ratio, acc)), grads = step_fn(model, chosen, rejected)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0 or step == 1:
        log.info("step %4d | loss %.6f | nll %.6f | or %.6f | pref_acc %.2f | %.1fs",
                 step, loss.item(), nll.item(), ratio.item(), acc.item(), time.time() - t0)
log.info("finished %d steps", STEPS)
