# Linear-probe evaluation of a frozen image tower (CLIP-style protocol):
# 1) run the frozen tower over every image and bank the features,
# 2) fit an L2-regularised softmax probe on the banked train features,
# 3) report test accuracy.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_CLASSES, RES, IN_RES = 10, 16, 48
BATCH = 112
N_TRAIN_BATCHES, N_TEST_BATCHES = 28, 8

# ---- synthetic "photo" set: class = colour tint + stripe orientation ------
TINTS = rng.uniform(0.2, 0.8, size=(N_CLASSES, 3))
ANGLES = np.linspace(0, np.pi, N_CLASSES, endpoint=False)
yy, xx = np.mgrid[0:RES, 0:RES] / RES

def make_batch(n):
    labels = rng.integers(0, N_CLASSES, size=n)
    a = ANGLES[labels][:, None, None]
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * (np.cos(a) * xx + np.sin(a) * yy))
    img = TINTS[labels][:, None, None, :] * (0.6 + 0.4 * stripes[..., None])
    img = img + rng.normal(0, 0.35, size=img.shape)
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    return img, labels

def batches(n_batches):
    for _ in range(n_batches):
        im, lab = make_batch(BATCH)
        yield {"image": im, "label": lab}

# ---- image processor: resize (nearest) + normalise, done in numpy -----------
MEAN = np.array([0.48, 0.46, 0.41], dtype=np.float32)
STD = np.array([0.27, 0.26, 0.28], dtype=np.float32)

def image_proc(images):
    scale = IN_RES // RES
    x = images.astype(np.float32) / 255.0
    x = x.repeat(scale, axis=1).repeat(scale, axis=2)
    return mx.array((x - MEAN) / STD)

# ---- frozen tower -------------------------------------------------------------
class Tower(nn.Module):
    def __init__(self, width=48, dim=64):
        super().__init__()
        self.patch = nn.Conv2d(3, width, kernel_size=6, stride=6)
        self.mix = nn.Conv2d(width, width, kernel_size=3, padding=1)
        self.proj = nn.Linear(width, dim)

    def get_image_features(self, x):
        h = nn.gelu(self.patch(x))
        h = nn.gelu(self.mix(h)) + h
        h = h.mean(axis=(1, 2))
        return self.proj(h)

mx.random.seed(0)
tower = Tower()
tower.freeze()
tower.eval()
mx.eval(tower.parameters())

def get_features(model, proc, it, tag):
    all_features, all_labels = [], []
    t0 = time.perf_counter()
    for i, batch in enumerate(it):
        x = proc(batch["image"])
        y = mx.array(batch["label"])
        image_embeds = model.get_image_features(x)
        mx.eval(image_embeds)
        all_features.append(image_embeds)
        all_labels.append(y)
        if (i + 1) % 8 == 0:
            print(f"[{tag}] batch {i + 1:3d} | banked {(i + 1) * BATCH:5d} imgs | "
                  f"active mem {mx.get_active_memory() / 2**20:7.1f} MiB | {time.perf_counter() - t0:5.2f}s",
                  flush=True)
    return mx.concatenate(all_features), mx.concatenate(all_labels)

train_features, train_labels = get_features(tower, image_proc, batches(N_TRAIN_BATCHES), "train")
test_features, test_labels = get_features(tower, image_proc, batches(N_TEST_BATCHES), "test")
mx.eval(train_features, test_features)

# standardise with train statistics
mu = train_features.mean(axis=0)
sd = train_features.std(axis=0) + 1e-6
train_features = (train_features - mu) / sd
test_features = (test_features - mu) / sd

# ---- softmax probe ---------------------------------------------------------------
probe = nn.Linear(train_features.shape[1], N_CLASSES)
C = 0.316
def probe_loss(m, f, y):
    ce = nn.losses.cross_entropy(m(f), y, reduction="mean")
    return ce + 0.5 / (C * f.shape[0]) * (m.weight ** 2).sum()

opt = optim.Adam(learning_rate=0.05)
lg = nn.value_and_grad(probe, probe_loss)
for it in range(1, 201):
    loss, grads = lg(probe, train_features, train_labels)
    opt.update(probe, grads)
    mx.eval(probe.parameters(), opt.state, loss)
    if it % 25 == 0:
        tr_acc = (probe(train_features).argmax(axis=1) == train_labels).mean().item()
        print(f"probe iter {it:3d}  loss {loss.item():.4f}  train acc {tr_acc:.3f}", flush=True)

predictions = probe(test_features).argmax(axis=1)
accuracy = (test_labels.squeeze() == predictions).mean().item() * 100
print(f"Accuracy = {accuracy:.3f}")
