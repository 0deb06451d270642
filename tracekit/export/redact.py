"""Redaction: `--redact` rules on span data, and credentials kept out of data and messages.

`--redact` rules drop or hash attribute keys and strip URL query strings, before any write.

Rules (repeatable, case-insensitive glob patterns on attribute keys)::

    drop:PATTERN         remove matching keys            drop:customer.email  drop:*phone*
    hash:PATTERN         replace values by a hash        hash:enduser.id
    strip-query[:PATTERN] cut "?query" and "#fragment" from values (default: URL-like keys)

They apply to span attributes, resource attributes and event attributes. Hashes are
``sha256:`` plus 16 hex chars of SHA-256 over ``$TRACEKIT_REDACT_SALT`` and the value, so equal
values still group together; set the salt to keep short values (phones) from being guessed.

Credentials are a different matter: the values export sends (``Scrubber.for_headers``) are
replaced by ``***`` wherever they turn up, in every message and log line (a server may echo
them in an error answer) and in the span data it stores (a server may echo them there too:
``Redactor.secrets``), and messages also lose anything shaped like a credential
(``Bearer ...``, ``password=...``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import fnmatch
import hashlib
import json
import os
import re
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

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
    """A set of rules applied to span tables, and credentials to blank out of every text in
    them; with neither, tables are left untouched."""

    rules: tuple[Rule, ...]
    secrets: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules or self.secrets)

    def with_secrets(self, secrets: tuple[str, ...]) -> Redactor:
        """The same rules, also replacing each of `secrets` by ``***`` in every text."""
        return dataclasses.replace(self, secrets=tuple(secrets))

    def action_for(self, key: str) -> str | None:
        """The first rule's action for `key` ("drop" wins over everything)."""
        actions = {rule.action for rule in self.rules if rule.matches(key)}
        for action in ACTIONS:
            if action in actions:
                return action
        return None

    def apply(self, table: pa.Table) -> pa.Table:
        """The table with every rule applied to attributes, resource and event attributes,
        and the secrets blanked out of every text."""
        if self.secrets and table.num_rows:
            table = _without_secrets(table, self.secrets)
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


MASK = "***"
# Shapes of credentials in text: an auth scheme and its credentials, `name=value` / `"name":
# "value"` pairs whose name ends in a credential word (`access_token=`, `X-Api-Key:`; not
# `session-api:`). For messages only: span data is never rewritten by shape, only by the
# exact values export sent.
_SCHEME = re.compile(r"(?i)\b(bearer|basic|digest|negotiate)(\s+)[A-Za-z0-9._~+/=-]{4,}")
_CREDENTIAL_NAME = (
    r"[A-Za-z0-9_.-]*(?:token|passw(?:or)?d|pwd|secret|api[_-]?key|apikey|authorization|auth"
    r"|credentials?|session|signature|cookie|private[_-]?key)"
)
_PAIR = re.compile(
    rf"(?i)((?<![A-Za-z0-9_.-]){_CREDENTIAL_NAME}[\"']?\s*[:=]\s*[\"']?)(?!\*\*\*)([^\s\"'&,;}}\])]+)"
)
# A --header whose name says so holds a credential, whatever its length; another header's
# value counts as one from this length on (API keys are long, tenant names short).
_CREDENTIAL_HEADER = re.compile(
    r"(?i)authorization|cookie|key|token|secret|auth|passw|session|signature|credential"
)
LONG_HEADER_VALUE = 16
MIN_SECRET = 4


@dataclass(frozen=True)
class Scrubber:
    """Removes credentials from text: the exact values sent (and their encoded forms), and
    anything shaped like a credential.

    >>> Scrubber(("s3cr3t-tok",)).scrub('HTTP 400: invalid credential "s3cr3t-tok", password=x1')
    'HTTP 400: invalid credential "***", password=***'
    """

    secrets: tuple[str, ...] = ()

    @staticmethod
    def for_headers(headers: dict[str, str]) -> Scrubber:
        """The scrubber for the credential headers export sends (see _CREDENTIAL_HEADER)."""
        found: list[str] = []
        for name, value in headers.items():
            if not (_CREDENTIAL_HEADER.search(name) or len(value) >= LONG_HEADER_VALUE):
                continue
            found.append(value)
            scheme, _, credentials = value.partition(" ")
            if credentials and scheme.isalpha():
                found.append(credentials.strip())
                if scheme.lower() == "basic":
                    found.extend(_basic_parts(credentials.strip()))
        secrets = {secret for secret in found if len(secret) >= MIN_SECRET}
        # longest first, so a token is blanked whole before a part of it could be
        return Scrubber(tuple(sorted(secrets, key=lambda secret: (-len(secret), secret))))

    def scrub(self, text: str) -> str:
        """`text` without the secrets or anything shaped like a credential."""
        for secret in self.secrets:
            for form in _forms(secret):
                text = text.replace(form, MASK)
        text = _SCHEME.sub(lambda match: match.group(1) + match.group(2) + MASK, text)
        return _PAIR.sub(lambda match: match.group(1) + MASK, text)


def _basic_parts(encoded: str) -> list[str]:
    """The user:password pair and the password of basic credentials."""
    try:
        pair = base64.b64decode(encoded, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return []
    return [pair, pair.partition(":")[2]]


def _forms(secret: str) -> list[str]:
    """A secret as a server may echo it: as is, URL-encoded, JSON-escaped."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    return sorted(forms, key=len, reverse=True)


def _without_secrets(table: pa.Table, secrets: tuple[str, ...]) -> pa.Table:
    """`table` with each secret replaced by MASK in every text, at any depth (maps, lists,
    structs). Tables holding none (the rule) are returned as they are after one scan."""
    for index, name in enumerate(table.column_names):
        column = table.column(index)
        if not any(_holds(leaf, secrets) for chunk in column.chunks for leaf in _leaves(chunk)):
            continue
        chunks = [_replace(pa.concat_arrays([chunk]), secrets) for chunk in column.chunks]
        table = table.set_column(index, name, pa.chunked_array(chunks, type=column.type))
    return table


def _leaves(array: pa.Array) -> list[pa.Array]:
    """The text arrays inside `array` (whole children: a superset of what it shows)."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [array]
    if pa.types.is_map(kind):
        return _leaves(array.keys) + _leaves(array.items)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _leaves(array.values)
    if pa.types.is_struct(kind):
        return [leaf for i in range(kind.num_fields) for leaf in _leaves(array.field(i))]
    return []


def _holds(strings: pa.Array, secrets: tuple[str, ...]) -> bool:
    return any(pc.any(pc.match_substring(strings, secret)).as_py() for secret in secrets)


def _replace(array: pa.Array, secrets: tuple[str, ...]) -> pa.Array:
    """`array` (offset 0) with the secrets replaced in every text inside it."""
    kind = array.type
    mask = array.is_null() if array.null_count else None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        for secret in secrets:
            array = pc.replace_substring(array, secret, MASK)
        return array
    if pa.types.is_map(kind):
        return pa.MapArray.from_arrays(
            array.offsets,
            _replace(array.keys, secrets),
            _replace(array.items, secrets),
            type=kind,
            mask=mask,
        )
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        cls = pa.ListArray if pa.types.is_list(kind) else pa.LargeListArray
        return cls.from_arrays(array.offsets, _replace(array.values, secrets), type=kind, mask=mask)
    if pa.types.is_struct(kind):
        fields = [_replace(array.field(i), secrets) for i in range(kind.num_fields)]
        return pa.StructArray.from_arrays(fields, fields=list(kind), mask=mask)
    return array
