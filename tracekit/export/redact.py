"""`--redact` rules: drop or hash attribute keys, strip URL query strings, before any write.

Rules (repeatable, case-insensitive glob patterns on attribute keys)::

    drop:PATTERN         remove matching keys            drop:customer.email  drop:*phone*
    hash:PATTERN         replace values by a hash        hash:enduser.id
    strip-query[:PATTERN] cut "?query" and "#fragment" from values (default: URL-like keys)

They apply to span attributes, resource attributes and event attributes. Hashes are
``sha256:`` plus 16 hex chars of SHA-256 over ``$TRACEKIT_REDACT_SALT`` and the value, so equal
values still group together; set the salt to keep short values (phones) from being guessed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracekit.errors import UserError

SALT_ENV = "TRACEKIT_REDACT_SALT"
URL_KEYS = ("http.url", "http.target", "url.full", "url.original", "*.url", "url")
ACTIONS = ("drop", "hash", "strip-query")


@dataclass(frozen=True)
class Rule:
    """One parsed rule: action and key pattern."""

    action: str
    pattern: str

    def matches(self, key: str) -> bool:
        return fnmatch.fnmatchcase(key.lower(), self.pattern.lower())


@dataclass(frozen=True)
class Redactor:
    """A set of rules applied to span tables; empty rules leave tables untouched."""

    rules: tuple[Rule, ...]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def action_for(self, key: str) -> str | None:
        """The first rule's action for `key` ("drop" wins over everything)."""
        actions = {rule.action for rule in self.rules if rule.matches(key)}
        for action in ACTIONS:
            if action in actions:
                return action
        return None

    def apply(self, table: pa.Table) -> pa.Table:
        """The table with every rule applied to attributes, resource and event attributes."""
        if not self.rules or table.num_rows == 0:
            return table
        columns = {}
        for name in ("attributes", "resource"):
            if name in table.column_names:
                columns[name] = self._map_column(table.column(name))
        if "events" in table.column_names:
            columns["events"] = self._events_column(table.column("events"))
        for name, column in columns.items():
            table = table.set_column(table.schema.get_field_index(name), name, column)
        return table

    def _map_column(self, column: pa.ChunkedArray) -> pa.ChunkedArray:
        return pa.chunked_array(
            [self._map_array(chunk) for chunk in column.chunks], type=column.type
        )

    def _map_array(self, maps: pa.MapArray) -> pa.MapArray:
        # A compact copy has offsets starting at 0, so .keys/.items line up with the rows.
        maps = pa.concat_arrays([maps])
        keys = maps.keys
        values = maps.items
        if len(keys) == 0:
            return maps
        distinct = pc.unique(keys).to_pylist()
        by_action: dict[str, list[str]] = {}
        for key in distinct:
            action = self.action_for(key) if key is not None else None
            if action:
                by_action.setdefault(action, []).append(key)
        if not by_action:
            return maps
        if "hash" in by_action or "strip-query" in by_action:
            values = self._rewrite_values(keys, values, by_action)
        keep = pc.invert(pc.is_in(keys, pa.array(by_action.get("drop", []), pa.string())))
        keep_mask = pc.fill_null(keep, True).to_numpy(zero_copy_only=False)
        old_offsets = maps.offsets.to_numpy()
        rows = np.repeat(np.arange(len(maps)), np.diff(old_offsets))
        counts = np.bincount(rows[keep_mask], minlength=len(maps))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        return pa.MapArray.from_arrays(
            pa.array(offsets, pa.int32()),
            pc.filter(keys, keep_mask),
            pc.filter(values, keep_mask),
            type=maps.type,
            mask=maps.is_null() if maps.null_count else None,
        )

    def _rewrite_values(
        self, keys: pa.Array, values: pa.Array, by_action: dict[str, list[str]]
    ) -> pa.Array:
        hashed = set(by_action.get("hash", []))
        stripped = set(by_action.get("strip-query", []))
        touched = pc.is_in(keys, pa.array(sorted(hashed | stripped), pa.string()))
        indices = np.flatnonzero(pc.fill_null(touched, False).to_numpy(zero_copy_only=False))
        if len(indices) == 0:
            return values
        key_list = keys.take(pa.array(indices)).to_pylist()
        value_list = values.take(pa.array(indices)).to_pylist()
        salt = os.environ.get(SALT_ENV, "")
        new_values = [
            _hash(value, salt) if key in hashed else _strip_query(value)
            for key, value in zip(key_list, value_list, strict=True)
        ]
        full = values.to_pylist()
        for index, value in zip(indices, new_values, strict=True):
            full[index] = value
        return pa.array(full, pa.string())

    def _events_column(self, column: pa.ChunkedArray) -> pa.ChunkedArray:
        chunks = []
        for events in column.chunks:
            events = pa.concat_arrays([events])
            flat = events.flatten()
            if len(flat) == 0:
                chunks.append(events)
                continue
            attributes = self._map_array(flat.field("attributes"))
            structs = pa.StructArray.from_arrays(
                [flat.field("time"), flat.field("name"), attributes],
                fields=list(flat.type),
            )
            offsets = events.offsets.to_numpy().astype(np.int32)
            rebuilt = pa.ListArray.from_arrays(
                pa.array(offsets, pa.int32()),
                structs,
                type=events.type,
                mask=events.is_null() if events.null_count else None,
            )
            chunks.append(rebuilt)
        return pa.chunked_array(chunks, type=column.type)


def parse_rules(texts: tuple[str, ...] | list[str]) -> Redactor:
    """Parse `--redact` values into a Redactor; a bad rule is a UserError.

    >>> parse_rules(["drop:customer.*", "strip-query"]).action_for("http.url")
    'strip-query'
    """
    rules: list[Rule] = []
    for text in texts:
        action, _, pattern = text.strip().partition(":")
        action = action.strip().lower()
        if action not in ACTIONS:
            raise UserError(
                f"--redact {text!r}: expected drop:PATTERN, hash:PATTERN or strip-query[:PATTERN]"
            )
        if action == "strip-query" and not pattern:
            rules.extend(Rule(action, key) for key in URL_KEYS)
            continue
        if not pattern.strip():
            raise UserError(f"--redact {text!r}: missing the key pattern after '{action}:'")
        rules.extend(Rule(action, part.strip()) for part in pattern.split(",") if part.strip())
    return Redactor(tuple(rules))


def _hash(value: str | None, salt: str) -> str | None:
    if value is None:
        return None
    digest = hashlib.sha256((salt + value).encode()).hexdigest()[:16]
    return f"sha256:{digest}"


def _strip_query(value: str | None) -> str | None:
    if value is None:
        return None
    for mark in ("?", "#"):
        value = value.split(mark, 1)[0]
    return value
