"""What can be wrong with an input record, and the tally ``--skip-bad`` reports per file."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import msgspec


class BadInput(Exception):
    """A record the importer cannot use: ``where`` is a JSON path (``$.data[0].spans[3]``)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


def validation_problem(exc: msgspec.ValidationError, prefix: str = "$") -> BadInput:
    """A msgspec validation error as BadInput with its JSON path (relative paths get ``prefix``).

    msgspec says ``Expected `int`, got `str` - at `$.spans[3].startTime```.
    """
    message = str(exc)
    problem, _, where = message.partition(" - at ")
    where = where.strip("`")
    where = prefix + where[1:] if where.startswith("$") else prefix
    problem = problem.replace("`", "").replace(" | null", "")
    if problem[:1].isupper():
        problem = problem[0].lower() + problem[1:]
    if problem.startswith("expected") and "got" in problem:
        problem = "wrong value type: " + problem
    return BadInput(where, problem)


def reject(problem: BadInput, skips: SkipLog | None, unit: str = "span") -> None:
    """Raise ``problem``, or under --skip-bad (``skips``) count the ``unit`` as skipped."""
    if skips is None:
        raise problem
    skips.skip(unit, problem)


_INDEX = re.compile(r"\[\d+\]")


@dataclass
class SkipLog:
    """Records skipped under ``--skip-bad``: counts by unit (file, line, trace, resource, span)
    and by reason."""

    units: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def skip(self, unit: str, problem: BadInput) -> None:
        """Count one skipped ``unit`` for ``problem``."""
        self.units[unit] += 1
        where = _INDEX.sub("[]", problem.where)
        self.reasons[f"{where}: {problem.problem}" if where else problem.problem] += 1

    def __bool__(self) -> bool:
        return bool(self.units)

    def summary(self) -> str:
        """One line: how many were skipped and why (the most frequent reasons first)."""
        parts = [
            f"{count} {unit}{'' if count == 1 else 's'}"
            for unit, count in sorted(self.units.items(), key=_unit_order)
        ]
        reasons = "; ".join(
            f"{reason} (x{count})" if count > 1 else reason
            for reason, count in self.reasons.most_common(3)
        )
        more = len(self.reasons) - 3
        if more > 0:
            reasons += f"; and {more} more reasons"
        return f"skipped {', '.join(parts)} ({reasons})"


_UNITS = ("file", "line", "resource", "trace", "span")


def _unit_order(item: tuple[str, int]) -> int:
    return _UNITS.index(item[0]) if item[0] in _UNITS else len(_UNITS)
