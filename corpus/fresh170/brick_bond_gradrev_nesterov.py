"""Brick bond recogniser that has to work on photos from a second surveyor.

Surveyor A's photos are labelled (stretcher / English / Flemish / stack bond);
surveyor B shoots at dusk with a different camera (dark, low contrast, blurred)
and sends no labels.  We train a small conv net with a domain-adversarial head
behind a gradient-reversal layer (custom VJP) so the features stop telling the
two cameras apart.  The domain head's loss therefore climbs towards chance
(ln 2 = 0.693) on purpose while the bond classifier keeps improving.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("brickbond")

H = W = 16
COURSE = 4  # pixel height of one brick course
LAM_MAX = 0.3
BONDS = ["stretcher", "english", "flemish", "stack"]


def course_joints(bond, row, shift):
    """x positions of vertical mortar joints in one course."""
    if bond == 0:  # stretcher: 8 px bricks, half-brick offset each course
        start, pattern = (0 if row % 2 == 0 else 4), [8]
    elif bond == 1:  # english: stretcher course / header course alternating
        start, pattern = (0, [8]) if row % 2 == 0 else (2, [4])
    elif bond == 2:  # flemish: stretcher+header in every course
        start, pattern = (0 if row % 2 == 0 else 6), [8, 4]
    else:  # stack: no offset at all
        start, pattern = 0, [8]
    xs, x, i = [], start + shift, 0
    x -= 32
    while x < W + 32:
        xs.append(x % W)
        x += pattern[i % len(pattern)]
        i += 1
    return sorted(set(xs))


def render(bond, rng):
    img = np.ones((H, W), dtype=np.float32) * 0.75
    shift = int(rng.integers(0, 8))
    for r in range(H // COURSE):
        y0 = r * COURSE
        img[y0, :] = 0.15  # bed joint
        for x in course_joints(bond, r, shift):
            img[y0:y0 + COURSE, x] = 0.15  # perpend
    img += rng.normal(0, 0.05, img.shape).astype(np.float32)
    return img


def make_split(n, domain, rng):
    ys = rng.integers(0, 4, size=n)
    xs = np.stack([render(int(b), rng) for b in ys])
    if domain == 1:  # surveyor B: dusk, cheap lens
        blur = (xs + np.roll(xs, 1, axis=2) + np.roll(xs, -1, axis=2)) / 3.0
        xs = 0.35 * blur + 0.05 + rng.normal(0, 0.04, xs.shape).astype(np.float32)
    return mx.array(xs[..., None]), mx.array(ys.astype(np.int32))


@mx.custom_function
def grad_reverse(x, lam):
    return x


@grad_reverse.vjp
def grad_reverse_vjp(primals, cotangent, output):
    _, lam = primals
    return -lam * cotangent, mx.zeros_like(lam)


class BondNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.proj = nn.Linear(16 * 8 * 8, 32)
        self.cls = nn.Linear(32, 4)
        self.dom1 = nn.Linear(32, 16)
        self.dom2 = nn.Linear(16, 1)

    def features(self, x):
        mu = mx.mean(x, axis=(1, 2, 3), keepdims=True)
        sd = mx.sqrt(mx.var(x, axis=(1, 2, 3), keepdims=True) + 1e-5)
        x = nn.relu(self.conv1((x - mu) / sd))
        x = nn.relu(self.conv2(x))
        return nn.relu(self.proj(x.reshape(x.shape[0], -1)))

    def __call__(self, x, lam):
        f = self.features(x)
        r = grad_reverse(f, lam)
        return self.cls(f), self.dom2(nn.relu(self.dom1(r))).squeeze(-1)


def loss_fn(model, xs, ys, xt, lam):
    logits_s, dom_s = model(xs, lam)
    _, dom_t = model(xt, lam)
    cls_loss = nn.losses.cross_entropy(logits_s, ys, reduction="mean")
    dom_logits = mx.concatenate([dom_s, dom_t])
    dom_y = mx.concatenate([mx.zeros(dom_s.shape), mx.ones(dom_t.shape)])
    dom_loss = nn.losses.binary_cross_entropy(dom_logits, dom_y, with_logits=True, reduction="mean")
    return cls_loss + dom_loss, (cls_loss, dom_loss)


def accuracy(model, x, y):
    logits, _ = model(x, mx.array(0.0))
    return mx.mean(mx.argmax(logits, axis=1) == y).item()


def group_norms(grads):
    out = {}
    for k, g in tree_flatten(grads):
        head = k.split(".")[0]
        head = "feat" if head in ("conv1", "conv2", "proj") else head
        out[head] = out.get(head, 0.0) + float(mx.sum(g * g).item())
    return {k: math.sqrt(v) for k, v in out.items()}


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xs_tr, ys_tr = make_split(512, 0, rng)
    xt_tr, _ = make_split(512, 1, rng)          # unlabelled target photos
    xs_va, ys_va = make_split(256, 0, rng)
    xt_va, yt_va = make_split(256, 1, rng)      # small labelled audit set for B

    model = BondNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    w0 = tree_map(lambda a: a, model.parameters())

    epochs, bs = 20, 64
    steps_per_epoch = xs_tr.shape[0] // bs
    total = epochs * steps_per_epoch
    best = (-1.0, None, -1)
    patience, bad = 8, 0
    hold = 4  # epochs with the reversal switched off (lam = 0)
    log.info("source=%d target=%d bonds=%s chance(dom)=%.3f", xs_tr.shape[0], xt_tr.shape[0],
             "/".join(BONDS), math.log(2))
    step = 0
    for ep in range(1, epochs + 1):
        perm_s = mx.array(rng.permutation(xs_tr.shape[0]))
        perm_t = mx.array(rng.permutation(xt_tr.shape[0]))
        c_sum = d_sum = 0.0
        for i in range(steps_per_epoch):
            p = max(0.0, (step - hold * steps_per_epoch) / (total - hold * steps_per_epoch))
            lam = mx.array(0.0 if ep <= hold else LAM_MAX * (2.0 / (1.0 + math.exp(-10 * p)) - 1.0))
            idx_s = perm_s[i * bs:(i + 1) * bs]
            idx_t = perm_t[i * bs:(i + 1) * bs]
            (loss, (cl, dl)), grads = vg(model, xs_tr[idx_s], ys_tr[idx_s], xt_tr[idx_t], lam)
            grads, _ = optim.clip_grad_norm(grads, 2.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, cl, dl)
            c_sum += cl.item()
            d_sum += dl.item()
            step += 1
        acc_s = accuracy(model, xs_va, ys_va)
        acc_t = accuracy(model, xt_va, yt_va)
        log.info("ep %02d | cls %.3f | dom %.3f (chance 0.693) | acc_src %5.1f%% acc_tgt %5.1f%% | lam %.2f",
                 ep, c_sum / steps_per_epoch, d_sum / steps_per_epoch, 100 * acc_s, 100 * acc_t, lam.item())
        if ep % 4 == 0:
            gn = group_norms(grads)
            drift = math.sqrt(sum(float(mx.sum((a - b) ** 2).item())
                                  for (_, a), (_, b) in zip(tree_flatten(model.parameters()), tree_flatten(w0))))
            log.info("audit ep %02d: |g| feat=%.3e cls=%.3e dom1=%.3e dom2=%.3e  |w-w0|=%.3f",
                     ep, gn["feat"], gn["cls"], gn["dom1"], gn["dom2"], drift)
        if acc_t > best[0] + 1e-9:
            best = (acc_t, tree_map(lambda a: a, model.parameters()), ep)
            bad = 0
        else:
            bad += 1
            if bad >= patience:
                log.info("no target gain for %d epochs, stopping at ep %02d", patience, ep)
                break
    model.update(best[1])
    mx.eval(model.parameters())
    log.info("restored ep %02d weights: acc_src %.1f%% acc_tgt %.1f%% (target before adaptation ~ chance 25.0%%)",
             best[2], 100 * accuracy(model, xs_va, ys_va), 100 * accuracy(model, xt_va, yt_va))


if __name__ == "__main__":
    main()
