"""Per-process admission: at most N runs execute, at most M wait, in arrival order.

A slot is released exactly once, only by the run that holds it: `Ticket.release()` is
idempotent, and a ticket that gave up waiting never holds a slot.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field


class QueueFull(Exception):
    """Too many runs are waiting already."""


class WaitTimeout(Exception):
    """The run waited longer than the limit for a slot."""


@dataclass(eq=False)
class Ticket:
    pool: SlotPool
    granted: threading.Event = field(default_factory=threading.Event)
    holding: bool = False
    released: bool = False

    def release(self) -> None:
        self.pool._release(self)


class SlotPool:
    def __init__(self, slots: int, max_waiting: int) -> None:
        self.slots = max(1, slots)
        self.max_waiting = max(0, max_waiting)
        self._lock = threading.Lock()
        self._active: set[Ticket] = set()
        self._waiting: deque[Ticket] = deque()
        self._durations: deque[float] = deque(maxlen=50)

    # --- what clients are told ----------------------------------------------------------------
    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def mean_run_seconds(self) -> float:
        return sum(self._durations) / len(self._durations) if self._durations else 30.0

    def position(self, ticket: Ticket) -> int:
        """1-based place in the queue; 0 when the ticket holds a slot or left."""
        with self._lock:
            try:
                return self._waiting.index(ticket) + 1
            except ValueError:
                return 0

    def eta_seconds(self, position: int) -> int:
        return int(math.ceil(position / self.slots) * self.mean_run_seconds())

    def record_duration(self, seconds: float) -> None:
        self._durations.append(seconds)

    # --- admission ----------------------------------------------------------------------------
    def enter(self) -> Ticket:
        """A ticket that holds a slot at once, or waits in line; QueueFull past the limit."""
        ticket = Ticket(self)
        with self._lock:
            if len(self._active) < self.slots and not self._waiting:
                self._grant(ticket)
            elif len(self._waiting) >= self.max_waiting:
                raise QueueFull(
                    f"Queue is full: {len(self._waiting)} requests are waiting. Try again later."
                )
            else:
                self._waiting.append(ticket)
        return ticket

    def wait(self, ticket: Ticket, timeout: float) -> bool:
        """Wait up to `timeout` for the slot; the ticket stays in line either way."""
        return ticket.granted.wait(timeout)

    def _grant(self, ticket: Ticket) -> None:
        ticket.holding = True
        self._active.add(ticket)
        ticket.granted.set()

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.released:
                return
            ticket.released = True
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                return
            if ticket.holding:
                ticket.holding = False
                self._active.discard(ticket)
                while self._waiting and len(self._active) < self.slots:
                    self._grant(self._waiting.popleft())

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "active": len(self._active),
                "waiting": len(self._waiting),
                "slots": self.slots,
                "max_waiting": self.max_waiting,
            }


def wait_for_slot(pool: SlotPool, ticket: Ticket, timeout: float, report, every: float = 2.0):
    """Wait in line, calling `report(position)` now and every `every` seconds; past `timeout`
    leave the line (or give back a slot granted at the last moment) and raise WaitTimeout."""
    deadline = time.monotonic() + timeout
    while not ticket.holding:
        position = pool.position(ticket)
        if position:
            report(position)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            ticket.release()
            raise WaitTimeout(f"Waited more than {int(timeout)} s for a free slot.")
        pool.wait(ticket, min(every, remaining))
