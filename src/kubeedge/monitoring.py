"""Prometheus metrics, gathered when scraped.

The modules keep plain counters and gauges as attributes (CloudHub's `HubMetrics`,
EdgeHub's counters, queue depths read off the queues themselves); a *source* turns them
into metric families at scrape time. This keeps the hot paths free of metric objects and
locks, and the edge free of `prometheus_client` until something scrapes it
(ARCHITECTURE.md rule 9: the library costs about 3 MB resident; it is imported by
`render`, not by this module).

cloudcore serves the result on `commonConfig.monitorServer.bindAddress` (KubeEdge's
9091, path /metrics); edgecore on its edged server's /metrics, as kubelet serves its own
on its port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]


@dataclass
class Family:
    """One metric family: `kind` is counter, gauge or summary. A summary's samples are
    (labels, count, sum)."""

    name: str
    kind: str
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)
    summaries: list[tuple[Labels, float, float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, float(value)))
        return self

    def observe(self, count: float, total: float, **labels: str) -> Family:
        self.summaries.append((labels, float(count), float(total)))
        return self


def counter(name: str, help: str, value: float | None = None, **labels: str) -> Family:
    family = Family(name, "counter", help)
    return family if value is None else family.add(value, **labels)


def gauge(name: str, help: str, value: float | None = None, **labels: str) -> Family:
    family = Family(name, "gauge", help)
    return family if value is None else family.add(value, **labels)


def summary(name: str, help: str, count: float, total: float, **labels: str) -> Family:
    return Family(name, "summary", help).observe(count, total, **labels)


Source = Callable[[], Iterable[Family]]


class Metrics:
    """The sources of one process; `render()` is the /metrics body."""

    def __init__(self, *, process: bool = True) -> None:
        self._sources: list[Source] = []
        self._process = process

    def add(self, source: Source) -> None:
        self._sources.append(source)

    def families(self) -> list[Family]:
        out: list[Family] = []
        for source in self._sources:
            try:
                out.extend(source())
            except Exception:  # one broken source must not hide the others
                log.exception("metrics source %r failed", source)
        return out

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            SummaryMetricFamily,
        )

        families = self.families()

        class _Collector:
            def collect(self):  # prometheus_client's collector protocol
                for f in families:
                    names = sorted({k for labels, *_ in (*f.samples, *f.summaries)
                                    for k in labels})
                    if f.kind == "summary":
                        m = SummaryMetricFamily(f.name, f.help, labels=names)
                        for labels, count, total in f.summaries:
                            m.add_metric([labels.get(n, "") for n in names], count, total)
                    else:
                        cls = CounterMetricFamily if f.kind == "counter" else GaugeMetricFamily
                        # CounterMetricFamily appends _total itself.
                        name = f.name.removesuffix("_total") if f.kind == "counter" else f.name
                        m = cls(name, f.help, labels=names)
                        for labels, value in f.samples:
                            m.add_metric([labels.get(n, "") for n in names], value)
                    yield m

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector())
        if self._process:
            from prometheus_client import ProcessCollector
            ProcessCollector(registry=registry)
        return generate_latest(registry)
