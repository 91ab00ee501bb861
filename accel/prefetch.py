"""Inter-layer weight prefetch: which layer instances get their first weight tile fetched
during the previous instance's last step (pure planning; the engine times it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PrefetchItem:
    """One layer instance in run order (bytes): its first DRAM step's weight read, the weight
    tile it keeps on chip, the capacity of the buffer holding its weights, and that buffer's
    identity (two instances share space only in the same buffer)."""

    first_weight_bytes: float
    weight_tile_bytes: float
    buffer_bytes: float
    buffer_id: object


def prefetch_plan(items: list[PrefetchItem]) -> list[tuple[bool, float]]:
    """Per instance: (its first weight tile was prefetched, bytes it prefetches for the
    next instance). Instance i+1's first weight tile is fetched during instance i's last
    step when it fits beside i's own weight tile: ``first[i+1] + tile[i] <= capacity[i+1]``
    (``tile[i]`` counted only when both use the same buffer). A double-buffered buffer always
    has room: each tile fits in its half."""
    recv = [False] * len(items)
    tail = [0.0] * len(items)
    for i in range(len(items) - 1):
        nxt, cur = items[i + 1], items[i]
        if nxt.first_weight_bytes <= 0:
            continue
        used = cur.weight_tile_bytes if cur.buffer_id == nxt.buffer_id else 0.0
        if nxt.first_weight_bytes + used <= nxt.buffer_bytes:
            recv[i + 1] = True
            tail[i] = float(nxt.first_weight_bytes)
    return list(zip(recv, tail, strict=True))
