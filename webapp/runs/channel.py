"""A run's events inside the process that executes it: numbered, persisted (except tokens),
and fanned out live to every stream attached to the run.

Each stream reads from its own bounded buffer. A stream whose client stopped reading (its writes
block, so it stops taking events) falls behind; past `buffer` events it is dropped — its buffer
freed and its stream ended — so one slow client never grows the worker's memory. Its client
re-attaches with `Last-Event-ID` and gets everything it missed (stored events from the DB, the
tokens this channel keeps).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from webapp.offhub import cooperate
from webapp.runs.events import LIVE_ONLY, LLM_TOKEN, TERMINAL
from webapp.stores.chatdb.base import ChatStore

log = logging.getLogger("webapp.runs")
Event = tuple[int, str, dict[str, Any]]
DEFAULT_BUFFER = 1000


class Empty(Exception):
    """Nothing arrived in time."""


class Dropped(Exception):
    """The stream fell more than its buffer behind and was detached from the run."""


class Subscriber:
    """One stream's live events: at most `limit` waiting; one more drops the stream.

    One run fans each event out to every stream attached to it, so offering is kept cheap: an
    append to a deque (atomic) and the setting of an event the stream's reader may wait on."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._events: deque[Event] = deque()
        self._arrived = threading.Event()
        self.dropped = False
        self.most_waiting = 0  # the longest its buffer was (what it cost, for tests and logs)

    def offer(self, event: Event) -> bool:
        """Add an event; False (and the buffer freed) when the stream is too far behind.
        Called with the channel's lock held: one offerer at a time."""
        if self.dropped:
            return False
        if len(self._events) >= self.limit:
            self.dropped = True
            self._events.clear()
            self._arrived.set()
            return False
        self._events.append(event)
        self.most_waiting = max(self.most_waiting, len(self._events))
        self._arrived.set()
        return True

    def get(self, timeout: float | None = None) -> Event:
        """The next event; Empty after `timeout` seconds of nothing (0: do not wait), Dropped
        once the stream was detached. One reader (its stream)."""
        if not self._events and not self.dropped and timeout != 0:
            self._arrived.clear()
            if not self._events and not self.dropped:  # nothing arrived since we looked
                self._arrived.wait(timeout)
        if self.dropped:
            raise Dropped()
        try:
            return self._events.popleft()
        except IndexError:
            raise Empty() from None

    def waiting(self) -> int:
        return len(self._events)


class RunChannel:
    def __init__(
        self,
        store: ChatStore,
        run_id: str,
        first_seq: int = 1,
        buffer: int = DEFAULT_BUFFER,
        chat_id: str = "",
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.chat_id = chat_id
        self.buffer = buffer
        self._next_seq = first_seq
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._tokens: list[Event] = []  # the answer tokens sent so far (they are not stored)
        self.finished = False
        self.dropped = 0

    def emit(self, event: str, data: dict[str, Any]) -> int:
        """Number the event, persist it unless it is live-only, and hand it to every stream;
        then let the streams run (a burst of tokens never holds the hub for more than one
        fan-out). An event that cannot be stored raises — except the run's closing one, which
        still reaches the live streams (the database being down is what it may report)."""
        with self._lock:
            seq = self._next_seq
            if event not in LIVE_ONLY:
                try:
                    self.store.append_event(self.run_id, seq, event, data)
                except Exception:
                    if event not in TERMINAL:
                        raise
                    log.warning(
                        "closing event of run %s not stored; sent live only",
                        self.run_id,
                        exc_info=True,
                    )
            self._next_seq += 1
            if event in TERMINAL:
                self.finished = True
            item = (seq, event, data)
            if event == LLM_TOKEN:
                self._tokens.append(item)
            behind = [s for s in self._subscribers if not s.offer(item)]
            for subscriber in behind:
                self._subscribers.remove(subscriber)
            self.dropped += len(behind)
        cooperate()
        return seq

    @property
    def last_seq(self) -> int:
        """The number of the last event emitted (0 before the first)."""
        with self._lock:
            return self._next_seq - 1

    def subscribe(self) -> tuple[Subscriber, list[Event]]:
        """A buffer of events from now on, and the answer tokens sent before it (tokens are not
        stored, so a stream that attaches late gets them from here). The caller replays the
        stored events from the DB."""
        subscriber = Subscriber(self.buffer)
        with self._lock:
            self._subscribers.append(subscriber)
            tokens = list(self._tokens)
        return subscriber, tokens

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)


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

    def for_chat(self, chat_id: str) -> RunChannel | None:
        """The run of this chat executing here, if any (a chat has one active run at most)."""
        with self._lock:
            for channel in self._channels.values():
                if channel.chat_id == chat_id and not channel.finished:
                    return channel
        return None

    def remove(self, run_id: str) -> None:
        with self._lock:
            self._channels.pop(run_id, None)

    def __len__(self) -> int:
        return len(self._channels)
