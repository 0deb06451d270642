#!/usr/bin/env python3
"""Load driver for HotROD's frontend: `python scripts/loadgen.py closed|open --url URL ...`.

Each request is what HotROD's own web page sends when a customer button is clicked
(examples/hotrod/services/frontend/web_assets/index.html): ``GET /dispatch?customer=ID&nonse=R``
for one of the page's four customers (123, 392, 731, 567; here drawn uniformly with a seeded
random generator) with the header ``baggage: session=CLIENT, request=CLIENT-N`` (HotROD's
mutex logs name waiting requests by it). The trace id comes from HotROD itself: its traced
handlers answer with a W3C ``traceresponse`` header (pkg/tracing/mux.go), the trace the
request's server span belongs to, which the page also uses to link to Jaeger.

Two modes:

- **closed loop**: N clients, each sending its next request when the previous one answered,
  for a number of requests in all or for a duration;
- **open loop**: Poisson arrivals at a rate (requests per second) for a duration, seeded. Every
  request is sent from its own thread at its scheduled time, so a slow answer never delays the
  next arrival; how late each send was against its schedule is recorded and reported
  (``lateness``), so a driver that could not keep up shows it.

Per request: its scheduled time (open loop), send and answer times (epoch microseconds, the
clock the spans use), HTTP status (None when no answer came), customer, trace id, error text.
From Python::

    run = open_loop("http://127.0.0.1:8080", rate=2.0, duration_s=30, seed=7)
    run.summary()["p95_s"], run.non_2xx, [r.trace_id for r in run.records]
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

CUSTOMERS = (123, 392, 731, 567)  # the four buttons of HotROD's page
TRACERESPONSE = re.compile(r"^\s*[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


@dataclasses.dataclass
class RequestRecord:
    """One request to /dispatch and what came back."""

    index: int  # order of sending (open loop: of arrival)
    client: int  # closed loop: the client that sent it; open loop: 0
    customer: int
    scheduled_us: int | None  # open loop: when it was due (epoch us); closed loop: None
    sent_us: int  # just before the request was written (epoch us)
    answered_us: int  # when the whole answer (or the error) came (epoch us)
    status: int | None  # HTTP status; None when no answer came (refused, reset, timeout)
    trace_id: str | None  # from the traceresponse header, 32 lower-case hex
    error: str | None = None

    @property
    def latency_s(self) -> float:
        """Seconds from sending to the answer."""
        return (self.answered_us - self.sent_us) / 1e6

    @property
    def lateness_s(self) -> float:
        """Open loop: seconds the send came after its scheduled time (0 in closed loop)."""
        return 0.0 if self.scheduled_us is None else (self.sent_us - self.scheduled_us) / 1e6

    @property
    def ok(self) -> bool:
        """The answer was 2xx."""
        return self.status is not None and 200 <= self.status < 300


@dataclasses.dataclass
class LoadRun:
    """A finished load run: how it was driven and every request's record."""

    mode: str  # "closed" or "open"
    url: str
    seed: int
    clients: int | None  # closed loop
    rate: float | None  # open loop, requests per second
    duration_s: float | None  # the arrival window (open loop) or the time limit (closed)
    requests: int | None  # closed loop: the number of requests asked for
    started_us: int
    ended_us: int
    records: list[RequestRecord]

    @property
    def non_2xx(self) -> int:
        """Requests that did not get a 2xx answer (including those with no answer)."""
        return sum(not record.ok for record in self.records)

    def backlogged_rate(self, backlog: int) -> tuple[float, int]:
        """Answers per second while a backlog lasted (at least ``backlog`` requests sent and not
        yet answered): the rate the server sustains when never idle, from these records alone;
        and how many answers that rests on."""
        events = sorted(
            [(r.sent_us, 1) for r in self.records] + [(r.answered_us, -1) for r in self.records]
        )
        open_, busy, pending = 0, [], []
        for at, step in events:
            if step < 0:
                if open_ >= backlog:
                    pending.append(at)
                elif pending:
                    busy.append(pending)
                    pending = []
            open_ += step
        if pending:
            busy.append(pending)
        answers = sum(len(run) - 1 for run in busy if len(run) > 1)
        seconds = sum((run[-1] - run[0]) / 1e6 for run in busy if len(run) > 1)
        return (answers / seconds if seconds else 0.0), answers

    def summary(self) -> dict[str, Any]:
        """Counts, statuses, latency quantiles, throughput and (open loop) send lateness."""
        latencies = sorted(record.latency_s for record in self.records)
        lateness = sorted(record.lateness_s for record in self.records)
        statuses: dict[str, int] = {}
        for record in self.records:
            key = str(record.status) if record.status is not None else "no answer"
            statuses[key] = statuses.get(key, 0) + 1
        span_s = (self.ended_us - self.started_us) / 1e6
        return {
            "mode": self.mode,
            "seed": self.seed,
            "requests": len(self.records),
            "statuses": statuses,
            "non_2xx": self.non_2xx,
            "with_trace_id": sum(record.trace_id is not None for record in self.records),
            "p50_s": _quantile(latencies, 0.50),
            "p95_s": _quantile(latencies, 0.95),
            "p99_s": _quantile(latencies, 0.99),
            "max_s": latencies[-1] if latencies else None,
            "seconds": span_s,
            "throughput_per_s": len(self.records) / span_s if span_s > 0 else None,
            "lateness_p99_s": _quantile(lateness, 0.99),
            "lateness_max_s": lateness[-1] if lateness else None,
        }

    def write(self, path: Path) -> None:
        """Save as JSON (``LoadRun.read`` reads it back)."""
        Path(path).write_text(json.dumps(dataclasses.asdict(self)) + "\n")

    @classmethod
    def read(cls, path: Path) -> LoadRun:
        """A run saved by ``write``."""
        data = json.loads(Path(path).read_text())
        data["records"] = [RequestRecord(**record) for record in data["records"]]
        return cls(**data)


class _Clock:
    """Epoch microseconds from one reading of the wall clock plus the monotonic clock, so that
    times within a run are consistent even if the wall clock is adjusted meanwhile."""

    def __init__(self) -> None:
        self._epoch_ns = time.time_ns()
        self._mono_ns = time.perf_counter_ns()

    def now_us(self) -> int:
        return (self._epoch_ns + time.perf_counter_ns() - self._mono_ns) // 1000

    def mono_s(self, epoch_us: int) -> float:
        """The perf_counter reading at which the clock shows `epoch_us`."""
        return (self._mono_ns + epoch_us * 1000 - self._epoch_ns) / 1e9


@dataclasses.dataclass(frozen=True)
class _Client:
    """A web client of HotROD's page: its frontend URL, its session id and the run's clock."""

    url: str
    session: int
    clock: _Clock
    timeout_s: float

    def dispatch(
        self,
        *,
        index: int,
        client: int,
        customer: int,
        request_no: int,
        nonce: float,
        scheduled_us: int | None = None,
    ) -> RequestRecord:
        """One GET /dispatch as HotROD's page sends it, and what came back."""
        parts = urllib.parse.urlsplit(self.url)
        query = urllib.parse.urlencode({"customer": customer, "nonse": nonce})
        headers = {"baggage": f"session={self.session}, request={self.session}-{request_no}"}
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port or 80, timeout=self.timeout_s
        )
        status = trace_id = error = None
        sent = self.clock.now_us()
        try:
            connection.request("GET", f"{parts.path.rstrip('/')}/dispatch?{query}", headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
            match = TRACERESPONSE.match(response.getheader("traceresponse") or "")
            trace_id = match.group(1) if match else None
        except (OSError, http.client.HTTPException) as failure:
            error = f"{type(failure).__name__}: {failure}"
        finally:
            connection.close()
        return RequestRecord(
            index=index,
            client=client,
            customer=customer,
            scheduled_us=scheduled_us,
            sent_us=sent,
            answered_us=self.clock.now_us(),
            status=status,
            trace_id=trace_id,
            error=error,
        )


def closed_loop(
    url: str,
    clients: int,
    requests: int | None = None,
    duration_s: float | None = None,
    seed: int | None = None,
    timeout_s: float = 120.0,
) -> LoadRun:
    """``clients`` concurrent clients, each sending its next request when the previous one
    answered, until ``requests`` were sent in all or ``duration_s`` passed (whichever is
    given; both: whichever comes first)."""
    if requests is None and duration_s is None:
        raise ValueError("closed loop: give requests or duration_s")
    if clients < 1:
        raise ValueError("closed loop: clients must be >= 1")
    seed = random.randrange(2**32) if seed is None else seed
    clock = _Clock()
    started = clock.now_us()
    deadline = None if duration_s is None else time.perf_counter() + duration_s
    lock = threading.Lock()
    records: list[RequestRecord] = []
    counter = iter(range(requests if requests is not None else sys.maxsize))

    def client(number: int) -> None:
        rng = random.Random(f"{seed}-{number}")
        me = _Client(url, session=rng.randrange(10_000), clock=clock, timeout_s=timeout_s)
        sent_by_me = 0
        while deadline is None or time.perf_counter() < deadline:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            sent_by_me += 1
            record = me.dispatch(
                index=index,
                client=number,
                customer=rng.choice(CUSTOMERS),
                request_no=sent_by_me,
                nonce=rng.random(),
            )
            with lock:
                records.append(record)

    _run_threads([lambda n=n: client(n) for n in range(clients)])
    records.sort(key=lambda record: (record.sent_us, record.index))
    return LoadRun(
        mode="closed",
        url=url,
        seed=seed,
        clients=clients,
        rate=None,
        duration_s=duration_s,
        requests=requests,
        started_us=started,
        ended_us=clock.now_us(),
        records=records,
    )


def arrivals(rate: float, duration_s: float, seed: int) -> list[tuple[float, int]]:
    """Poisson arrivals: (offset in seconds, customer) for ``duration_s`` at ``rate`` per
    second, the same for the same seed."""
    rng = random.Random(seed)
    out = []
    offset = rng.expovariate(rate)
    while offset < duration_s:
        out.append((offset, rng.choice(CUSTOMERS)))
        offset += rng.expovariate(rate)
    return out


def open_loop(
    url: str,
    rate: float,
    duration_s: float,
    seed: int | None = None,
    timeout_s: float = 120.0,
) -> LoadRun:
    """Poisson arrivals at ``rate`` per second for ``duration_s`` seconds; each request is sent
    from its own thread at its time, whatever the earlier ones are doing. Returns when every
    request has answered (or timed out)."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError("open loop: rate and duration must be > 0")
    seed = random.randrange(2**32) if seed is None else seed
    plan = arrivals(rate, duration_s, seed)
    clock = _Clock()
    page = _Client(
        url, session=random.Random(seed).randrange(10_000), clock=clock, timeout_s=timeout_s
    )
    nonces = random.Random(f"{seed}-nonce")
    started = clock.now_us() + 50_000  # a moment to spare for the first thread
    lock = threading.Lock()
    records: list[RequestRecord] = []
    threads = []

    def send(index: int, due_us: int, customer: int, nonce: float) -> None:
        # wait the last stretch in this thread: its start-up is not part of the lateness
        pause = clock.mono_s(due_us) - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        record = page.dispatch(
            index=index,
            client=0,
            customer=customer,
            request_no=index + 1,
            nonce=nonce,
            scheduled_us=due_us,
        )
        with lock:
            records.append(record)

    for index, (offset, customer) in enumerate(plan):
        due_us = started + int(offset * 1e6)
        # start each thread ~20 ms ahead of its time; it sleeps the rest itself
        pause = clock.mono_s(due_us) - 0.02 - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        thread = threading.Thread(
            target=send, args=(index, due_us, customer, nonces.random()), daemon=True
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    records.sort(key=lambda record: record.index)
    return LoadRun(
        mode="open",
        url=url,
        seed=seed,
        clients=None,
        rate=rate,
        duration_s=duration_s,
        requests=None,
        started_us=started,
        ended_us=clock.now_us(),
        records=records,
    )


def _run_threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _quantile(values: list[float], q: float) -> float | None:
    """Linear-interpolated quantile of sorted values (numpy's default), None when empty."""
    if not values:
        return None
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def main(argv: list[str] | None = None) -> int:
    """Command line: closed | open; prints a summary, --out saves every record."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("mode", choices=["closed", "open"])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="HotROD's frontend")
    parser.add_argument("--clients", type=int, default=None, help="closed loop: clients")
    parser.add_argument("--requests", type=int, default=None, help="closed loop: in all")
    parser.add_argument("--rate", type=float, default=None, help="open loop: requests/s")
    parser.add_argument("--duration", type=float, default=None, help="seconds")
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    parser.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    parser.add_argument("--out", type=Path, default=None, help="write the run as JSON here")
    args = parser.parse_args(argv)
    try:
        if args.mode == "closed":
            if args.clients is None or (args.requests is None and args.duration is None):
                raise ValueError("closed loop needs --clients and --requests or --duration")
            run = closed_loop(
                args.url, args.clients, args.requests, args.duration, args.seed, args.timeout
            )
        else:
            if args.rate is None or args.duration is None:
                raise ValueError("open loop needs --rate and --duration")
            run = open_loop(args.url, args.rate, args.duration, args.seed, args.timeout)
    except ValueError as error:
        print(f"loadgen: {error}", file=sys.stderr)
        return 2
    if args.out is not None:
        run.write(args.out)
    print(json.dumps(run.summary(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
