# Distil a frozen "target" MLP into a small draft MLP with a soft cross-entropy
# (target probabilities vs. draft log-probabilities), summed over 3 prediction heads
# with a geometric decay, like a multi-step speculator loss.
import logging, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("distill")
mx.random.seed(7)
D_IN, V, HEADS = 16, 24, 3


class Net(nn.Module):
    def __init__(self, hidden, heads=HEADS):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D_IN, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.heads = [nn.Linear(hidden, V) for _ in range(heads)]

    def __call__(self, x):
        h = self.trunk(x)
        return [hd(h) for hd in self.heads]


target = Net(128)
target.freeze()
draft = Net(48)
mx.eval(target.parameters(), draft.parameters())
opt = optim.Adam(learning_rate=2e-3)
LOSS_DECAY = 0.8


def spec_loss(draft, x):
    total = mx.array(0.0)
    t_logits = target(x)
    for j, spec_logits in enumerate(draft(x)):
        target_probs = mx.softmax(mx.stop_gradient(t_logits[j]) * 8.0, axis=-1)
        spec_log_probs = mx.log_softmax(spec_logits, axis=-1)
        loss = -mx.sum(target_probs * spec_log_probs, axis=-1).mean()
        total = total + loss * (LOSS_DECAY ** j)
    return total


vg = nn.value_and_grad(draft, spec_loss)
xv = mx.random.normal((1024, D_IN))
t0 = time.time()
for it in range(1, 1501):
    x = mx.random.normal((128, D_IN))
    loss, grads = vg(draft, x)
    opt.update(draft, grads)
    mx.eval(draft.parameters(), opt.state, loss)
    if it % 250 == 0 or it == 1:
        agree = sum(((mx.argmax(a, -1) == mx.argmax(b, -1)).mean()) for a, b in zip(draft(xv), target(xv))) / HEADS
        log.info("iter %d soft_ce %.4f top1_agree %.3f (%.1fs)", it, loss.item(), agree.item(), time.time() - t0)
log.info("finished")
