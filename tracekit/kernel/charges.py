"""``charges``: each critical-path segment charged to a service and operation (the rows of
``critical_path_charges``; docs/analytics.md "Bottlenecks").

A client span's own time (before its server child started, after it ended: waiting for a free
worker, the network) is charged to the callee as wait, not to the caller: the callee is the
service of the client's longest child in another service (the first such row on a tie), else
the service the client names (``conv_peer``: peer.service, else the server's address), one row
per client row of the span id that names one; a client with neither keeps its time as its own.
Everything else is the span's own work.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tracekit.kernel.span_arrays import CLIENT


@njit(cache=True)
def charges(
    owners, group, group_end, child_offsets, children, row, kind, service, operation, duration, peer
):
    """Per charge: its segment, the callee's service and operation codes (-1: none), the peer
    code (-1: none) and whether it is wait."""
    segments = len(owners)
    size = segments + 16
    segment = np.empty(size, np.int64)
    callee = np.empty(size, np.int64)
    callee_operation = np.empty(size, np.int64)
    named = np.empty(size, np.int64)
    m = 0
    for x in range(segments):
        owner = owners[x]
        target = -1
        target_operation = -1
        peers = 0
        g = group[owner]
        if kind[owner] == CLIENT:
            best_service = -1
            best_operation = -1
            for y in range(child_offsets[g], child_offsets[g + 1]):
                c = children[y]
                called = False
                for p in range(g, group_end[g]):
                    if kind[p] == CLIENT and service[c] != service[p]:
                        called = True
                        break
                if not called:
                    continue
                if service[c] >= 0 and (
                    best_service < 0
                    or duration[c] > duration[best_service]
                    or (duration[c] == duration[best_service] and row[c] < row[best_service])
                ):
                    best_service = c
                if operation[c] >= 0 and (
                    best_operation < 0
                    or duration[c] > duration[best_operation]
                    or (duration[c] == duration[best_operation] and row[c] < row[best_operation])
                ):
                    best_operation = c
            if best_service >= 0:
                target = service[best_service]
                target_operation = operation[best_operation] if best_operation >= 0 else -1
            for p in range(g, group_end[g]):
                if kind[p] == CLIENT and peer[p] >= 0:
                    peers += 1
        if m + peers + 1 > size:
            size = 2 * (m + peers + 1)
            segment = _grow(segment, size)
            callee = _grow(callee, size)
            callee_operation = _grow(callee_operation, size)
            named = _grow(named, size)
        if peers == 0:
            segment[m] = x
            callee[m] = target
            callee_operation[m] = target_operation
            named[m] = -1
            m += 1
            continue
        for p in range(g, group_end[g]):
            if kind[p] == CLIENT and peer[p] >= 0:
                segment[m] = x
                callee[m] = target
                callee_operation[m] = target_operation
                named[m] = peer[p]
                m += 1
    return segment[:m], callee[:m], callee_operation[:m], named[:m]


@njit(cache=True)
def _grow(values, size):
    grown = np.empty(size, values.dtype)
    grown[: len(values)] = values
    return grown
