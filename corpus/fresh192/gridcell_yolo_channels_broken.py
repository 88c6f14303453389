# Tiny YOLO-v1 style detector on synthetic "one bright square per image" data.
# Dataset returns MLX arrays; model is a small DarkNet-ish conv stack.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

S, C, IMG = 4, 3, 32  # grid, classes, image side


class SquaresDataset:
    def __init__(self, n, seed=0):
        rng = np.random.default_rng(seed)
        self.items = []
        for _ in range(n):
            img = rng.normal(0, 0.1, (IMG, IMG, 3)).astype(np.float32)
            cls = int(rng.integers(C))
            side = int(rng.integers(6, 12))
            x0, y0 = rng.integers(0, IMG - side, size=2)
            img[y0:y0 + side, x0:x0 + side, cls] += 1.0
            cx, cy = (x0 + side / 2) / IMG, (y0 + side / 2) / IMG
            self.items.append((img, (cx, cy, side / IMG, side / IMG), cls))

    def _convert_to_grid(self, box, cls):
        target = np.zeros((S, S, 5 + C), dtype=np.float32)
        gx = min(S - 1, int(box[0] * S)); gy = min(S - 1, int(box[1] * S))
        target[gy, gx, :4] = [box[0] * S - gx, box[1] * S - gy, box[2], box[3]]
        target[gy, gx, 4] = 1
        target[gy, gx, 5 + cls] = 1
        return target

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        image, box, cls = self.items[idx]
        target = self._convert_to_grid(box, cls)

        # Convert to MLX arrays - transpose to NCHW format (channels first)
        image = mx.array(image)
        image = mx.transpose(image, (2, 0, 1))  # HWC -> CHW (single image, no batch dim yet)
        target = mx.array(target)

        return image, target


def batches(ds, bs, rng):
    idx = rng.permutation(len(ds))
    for i in range(0, len(idx) - bs + 1, bs):
        ims, tgs = zip(*(ds[int(j)] for j in idx[i:i + bs]))
        yield mx.stack(ims), mx.stack(tgs)


class TinyYOLO(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm(16)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm(32)
        self.conv3 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.head = nn.Linear(S * S * 32, S * S * (5 + C))

    def __call__(self, x):
        x = nn.leaky_relu(self.bn1(self.conv1(x)), 0.1)
        x = nn.leaky_relu(self.bn2(self.conv2(x)), 0.1)
        x = nn.leaky_relu(self.conv3(x), 0.1)
        return self.head(x.reshape(x.shape[0], -1)).reshape(-1, S, S, 5 + C)


def yolo_loss(pred, target, l_coord=5.0, l_noobj=0.5):
    obj = target[..., 4]
    box_err = ((pred[..., :2] - target[..., :2]) ** 2).sum(-1) + \
              ((pred[..., 2:4] - target[..., 2:4]) ** 2).sum(-1)
    conf = mx.sigmoid(pred[..., 4])
    conf_err = obj * (conf - 1) ** 2 + l_noobj * (1 - obj) * conf ** 2
    cls_err = obj * nn.losses.cross_entropy(pred[..., 5:], mx.argmax(target[..., 5:], -1), reduction="none")
    return (l_coord * obj * box_err + conf_err + cls_err).sum() / pred.shape[0]


def main():
    mx.random.seed(0)
    train_ds, val_ds = SquaresDataset(512, 1), SquaresDataset(128, 2)
    model = TinyYOLO()
    opt = optim.Adam(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, lambda m, x, y: yolo_loss(m(x), y))
    rng = np.random.default_rng(0)
    for epoch in range(1, 9):
        model.train(True)
        t0, tot, n = time.time(), 0.0, 0
        for x, y in batches(train_ds, 32, rng):
            loss, grads = step_fn(model, x, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); n += 1
        model.train(False)
        hits = 0
        for x, y in batches(val_ds, 32, rng):
            p = model(x)
            pc = mx.argmax(p[..., 4].reshape(p.shape[0], -1), -1)
            tc = mx.argmax(y[..., 4].reshape(y.shape[0], -1), -1)
            hits += (pc == tc).sum().item()
        print(f"Epoch {epoch}: train_loss={tot / n:.4f} val_cell_acc={hits / 128:.3f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
