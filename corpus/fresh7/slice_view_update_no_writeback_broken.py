"""Class-incremental head update: a softmax classifier was trained on 3 classes,
two new classes arrive, and only the new columns of the head are trained
(plain SGD written by hand; the old columns must stay as they are)."""
import logging

import mlx.core as mx

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("incremental")

mx.random.seed(3)
D, OLD, NEW = 20, 3, 2
C = OLD + NEW
centers = 2.0 * mx.random.normal((C, D))
labels = mx.random.randint(0, C, (1500,))
feats = centers[labels] + mx.random.normal((1500, D))

# "pretrained" head for the old classes: class means as weights
W = mx.zeros((D, C))
W[:, :OLD] = 0.5 * centers[:OLD].T
b = mx.zeros((C,))
mx.eval(W, b)


def nll(W, b, x, y):
    logits = x @ W + b
    return mx.mean(mx.logsumexp(logits, axis=-1) - mx.take_along_axis(logits, y[:, None], axis=-1)[:, 0])


grad_fn = mx.value_and_grad(nll, argnums=(0, 1))
lr, batch = 0.05, 50
for epoch in range(12):
    perm = mx.random.permutation(feats.shape[0])
    tot = 0.0
    for it in range(0, feats.shape[0], batch):
        idx = perm[it:it + batch]
        loss, (gW, gb) = grad_fn(W, b, feats[idx], labels[idx])
        # update only the new-class columns, in place through a view
        W_new = W[:, OLD:]
        W_new[:] = W_new - lr * gW[:, OLD:]
        b_new = b[OLD:]
        b_new[:] = b_new - lr * gb[OLD:]
        mx.eval(W, b, loss)
        tot += loss.item()
    acc = (mx.argmax(feats @ W + b, axis=-1) == labels).mean().item()
    log.info("epoch %02d nll=%.4f acc=%.3f |W_new|=%.4f", epoch, tot / (feats.shape[0] // batch), acc,
             mx.abs(W[:, OLD:]).sum().item())
