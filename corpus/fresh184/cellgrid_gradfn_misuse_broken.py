# Tiny YOLO-style grid detector on synthetic 16x16 "images" with one bright square.
# Grid 4x4, each cell predicts objectness + (x, y, w, h). Gradient accumulation + clipping.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

S, IMG = 4, 16
mx.random.seed(3)


def make_data(n, seed):
    key = mx.random.key(seed)
    k1, k2 = mx.random.split(key)
    cx = mx.random.randint(2, IMG - 2, (n,), key=k1)
    cy = mx.random.randint(2, IMG - 2, (n,), key=k2)
    ys = mx.arange(IMG)[None, :, None]
    xs = mx.arange(IMG)[None, None, :]
    sq = (mx.abs(ys - cy[:, None, None]) <= 1) & (mx.abs(xs - cx[:, None, None]) <= 1)
    imgs = sq.astype(mx.float32)[..., None] + 0.1 * mx.random.normal((n, IMG, IMG, 1), key=k1)
    cell = IMG // S
    gi, gj = cy // cell, cx // cell
    tgt = mx.zeros((n, S, S, 5))
    onehot = (mx.arange(S)[None, :, None] == gi[:, None, None]) & (mx.arange(S)[None, None, :] == gj[:, None, None])
    ox = (cx % cell).astype(mx.float32) / cell
    oy = (cy % cell).astype(mx.float32) / cell
    box = mx.stack([mx.ones(n), ox, oy, mx.full((n,), 0.1875), mx.full((n,), 0.1875)], axis=-1)
    tgt = onehot[..., None].astype(mx.float32) * box[:, None, None, :]
    return imgs, tgt


class GridNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.head = nn.Conv2d(32, 5, 1)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))
        x = nn.relu(self.c3(x))
        return self.head(x)


def yolo_loss(pred, tgt, l_coord=5.0, l_noobj=0.5):
    obj = tgt[..., 0]
    conf = mx.sigmoid(pred[..., 0])
    xy = mx.sigmoid(pred[..., 1:3])
    wh = mx.sigmoid(pred[..., 3:5])
    coord = mx.sum(obj[..., None] * ((xy - tgt[..., 1:3]) ** 2 + (wh - tgt[..., 3:5]) ** 2))
    c_obj = mx.sum(obj * (conf - 1.0) ** 2)
    c_noobj = mx.sum((1 - obj) * conf ** 2)
    return (l_coord * coord + c_obj + l_noobj * c_noobj) / pred.shape[0]


def clip_gradients(grads, max_norm):
    total = mx.sqrt(sum(mx.sum(g * g) for _, g in tree_flatten(grads)))
    coef = mx.minimum(max_norm / (total + 1e-6), 1.0)
    return tree_map(lambda g: g * coef, grads)


model = GridNet()
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=3e-3)
train_x, train_y = make_data(512, 1)
val_x, val_y = make_data(128, 2)
batch_size, accumulation_steps, max_grad_norm = 32, 2, 10.0
n_batches = train_x.shape[0] // batch_size

t_start = time.time()
for epoch in range(12):
    perm = mx.random.permutation(train_x.shape[0])
    accumulated_loss, accumulated_grads, step_count = 0.0, None, 0
    epoch_loss, updates = 0.0, 0
    for b in range(n_batches):
        idx = perm[b * batch_size:(b + 1) * batch_size]
        images, targets = train_x[idx], train_y[idx]

        # Forward pass
        predictions = model(images)
        loss = yolo_loss(predictions, targets)
        loss = loss / accumulation_steps
        accumulated_loss += loss

        # Compute gradients
        gradients = mx.grad(model.parameters())(predictions, targets)

        gradients = clip_gradients(gradients, max_grad_norm)
        if accumulated_grads is None:
            accumulated_grads = gradients
        else:
            accumulated_grads = tree_map(lambda a, g: a + g, accumulated_grads, gradients)

        step_count += 1
        if step_count == accumulation_steps:
            optimizer.update(model, accumulated_grads)
            mx.eval(model.parameters(), optimizer.state)
            epoch_loss += accumulated_loss.item() * accumulation_steps
            updates += 1
            accumulated_loss, accumulated_grads, step_count = 0.0, None, 0

    vp = model(val_x)
    vl = yolo_loss(vp, val_y).item()
    hit = mx.argmax(vp[..., 0].reshape(-1, S * S), axis=1) == mx.argmax(val_y[..., 0].reshape(-1, S * S), axis=1)
    print(f"Epoch [{epoch+1}/12], Average Loss: {epoch_loss / (updates * accumulation_steps):.4f}, "
          f"Val Loss: {vl:.4f}, Cell Acc: {hit.astype(mx.float32).mean().item():.3f}, "
          f"Time: {time.time() - t_start:.2f}s")
