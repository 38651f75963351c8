"""A run's events inside the process that executes it: numbered, persisted (except tokens),
and fanned out live to every stream attached to the run."""

from __future__ import annotations

import queue
import threading
from typing import Any

from webapp.runs.events import LIVE_ONLY, LLM_TOKEN, TERMINAL
from webapp.stores.chatdb.base import ChatStore

Event = tuple[int, str, dict[str, Any]]


class RunChannel:
    def __init__(self, store: ChatStore, run_id: str, first_seq: int = 1) -> None:
        self.store = store
        self.run_id = run_id
        self._next_seq = first_seq
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[Event]] = []
        self._tokens: list[Event] = []  # the answer tokens sent so far (they are not stored)
        self.finished = False

    def emit(self, event: str, data: dict[str, Any]) -> int:
        """Number the event, persist it unless it is live-only, and hand it to every stream."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            if event not in LIVE_ONLY:
                self.store.append_event(self.run_id, seq, event, data)
            if event in TERMINAL:
                self.finished = True
            if event == LLM_TOKEN:
                self._tokens.append((seq, event, data))
            for subscriber in self._subscribers:
                subscriber.put((seq, event, data))
        return seq

    @property
    def last_seq(self) -> int:
        """The number of the last event emitted (0 before the first)."""
        with self._lock:
            return self._next_seq - 1

    def subscribe(self) -> tuple[queue.Queue[Event], list[Event]]:
        """A queue of events from now on, and the answer tokens sent before it (tokens are not
        stored, so a stream that attaches late gets them from here). The caller replays the
        stored events from the DB."""
        subscriber: queue.Queue[Event] = queue.Queue()
        with self._lock:
            self._subscribers.append(subscriber)
            tokens = list(self._tokens)
        return subscriber, tokens

    def unsubscribe(self, subscriber: queue.Queue[Event]) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)


class ChannelRegistry:
    """The runs executing in this process."""

    def __init__(self) -> None:
        self._channels: dict[str, RunChannel] = {}
        self._lock = threading.Lock()

    def add(self, channel: RunChannel) -> None:
        with self._lock:
            self._channels[channel.run_id] = channel

    def get(self, run_id: str) -> RunChannel | None:
        with self._lock:
            return self._channels.get(run_id)

    def remove(self, run_id: str) -> None:
        with self._lock:
            self._channels.pop(run_id, None)

    def __len__(self) -> int:
        return len(self._channels)
