"""A bounded history of items: whole up to a limit, then evenly thinned, plus the latest ones.

Job: keep every item while there are at most `limit`; past it, every k-th item (k doubles
whenever more than `cap` are kept, so between cap/2 and cap are kept, evenly spaced over the
whole history) and the last `recent` items in full. Memory is O(limit + recent) however many
items come; each `add` is O(1) amortised. Used for step records and for outside samples.

Must not import: mlx, the runner, judging.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import repeat
from typing import Generic, TypeVar

Item = TypeVar("Item")


class Thinned(Generic[Item]):
    """Every item up to `limit`, then every k-th (kept[i] is item number i * every)."""

    def __init__(self, limit: int, recent: int, cap: int | None = None) -> None:
        self.limit = limit
        self.cap = min(cap or limit, limit)  # items kept once thinned
        self.count = 0
        self.every = 1
        self.kept: list[Item] = []
        self.recent: deque[Item] = deque(maxlen=recent)

    def add(self, item: Item) -> None:
        if self.count % self.every == 0:
            self.kept.append(item)
            self._thin()
        self.count += 1
        self.recent.append(item)

    def extend(self, items: list[Item]) -> None:
        """`add` of each item, in one go."""
        self.kept += items[(-self.count) % self.every::self.every]
        self.count += len(items)
        self.recent.extend(items)
        self._thin()

    def extend_made(self, count: int, make: Callable[[int], Item],
                    held: Callable[[int], tuple]) -> None:
        """`extend` by `count` items made only when read: each kept one is held as
        `held(i)`, a (maker, argument) pair of its own; each recent one as (make, i).
        Items must not be tuples."""
        self.kept += [held(i) for i in range((-self.count) % self.every, count, self.every)]
        self.count += count
        self.recent.extend(zip(repeat(make), range(max(0, count - self.recent.maxlen), count)))
        self._thin()

    def _thin(self) -> None:
        while len(self.kept) > (self.limit if self.every == 1 else self.cap):
            self.every *= 2
            self.kept = self.kept[::2]

    @property
    def thinned(self) -> bool:
        return self.every > 1

    def even(self) -> list[Item]:
        """Every item while whole; else the evenly kept ones, and the last one."""
        self._make_held()
        if self.every == 1 or (self.count - 1) % self.every == 0:
            return list(self.kept)
        return [*self.kept, self.recent[-1]]

    def merged(self) -> list[Item]:
        """The evenly kept items and the recent ones, in order, each once."""
        self._make_held()
        if self.every == 1:
            return list(self.kept)
        first_recent = self.count - len(self.recent)  # item number of recent[0]
        older = self.kept[:-(-first_recent // self.every)] if first_recent > 0 else []
        return [*older, *self.recent]

    def _make_held(self) -> None:
        """Make the items held by `extend_made`, once: read again, they are the same items."""
        self.kept = list(map(made, self.kept))
        self.recent = deque(map(made, self.recent), maxlen=self.recent.maxlen)


def made(item: Item | tuple) -> Item:
    """An item, made now if it was held as (maker, argument)."""
    return item[0](item[1]) if type(item) is tuple else item  # type: ignore[return-value]
