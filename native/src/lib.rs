//! A Jaeger `/api/traces` document (`{"data": [trace, ...]}`) to the columns of tracekit's span
//! schema, as Arrow buffers: the import's hot path, compiled.
//!
//! It is a fast path, not a second importer. It maps a document exactly as
//! `tracekit.importers.jaeger_json.traces_batch` does, for the documents every Jaeger writes:
//! tag values that are strings, bools, integers and plain doubles, every span with its process.
//! Anything else (bad JSON, a value of another type, a double Go would write with an exponent,
//! a time outside years 1-9999, non-ASCII reference types) makes it answer None, and the Python importer maps the document and names any problem. A test
//! compares the two on generated documents (tests/test_import_native.py).

use std::borrow::Cow;

use rustc_hash::FxHashMap as HashMap;

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::ffi::{c_int, c_void};

// The times a dataset can hold (tracekit.importers.values), in microseconds since 1970.
const MIN_TIME_US: i64 = -62_135_596_800_000_000;
const MAX_TIME_US: i64 = 253_402_300_799_999_999;
const KINDS: [&str; 5] = ["client", "consumer", "internal", "producer", "server"];
const REMOVED: [&str; 3] = ["span.kind", "otel.status_code", "otel.status_description"];

/// Why the fast path hands a document back: the Python importer maps it.
struct Fallback;

type Mapped<T> = Result<T, Fallback>;

// ---- the document, as msgspec decodes it (jaeger_json.Trace and friends) ----
// Every field msgspec declares is declared here with the same type, so a value msgspec would
// reject is rejected here too; fields it does not declare are ignored, as there.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the fields besides data are checked, not read (documents.Document)
struct Document<'a> {
    #[serde(borrow)]
    data: Vec<Trace<'a>>,
    #[serde(default)]
    errors: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    total: Option<IgnoredAny>,
    #[serde(default)]
    limit: Option<IgnoredAny>,
    #[serde(default)]
    offset: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[allow(non_snake_case, dead_code)]
struct Trace<'a> {
    #[serde(default, borrow)]
    traceID: Option<Cow<'a, str>>,
    #[serde(borrow)]
    spans: Vec<Span<'a>>,
    #[serde(default, borrow)]
    processes: Option<HashMap<Cow<'a, str>, Process<'a>>>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Span<'a> {
    #[serde(borrow)]
    traceID: Cow<'a, str>,
    #[serde(borrow)]
    spanID: Cow<'a, str>,
    #[serde(default, borrow)]
    operationName: Cow<'a, str>,
    #[serde(default, borrow)]
    references: Option<Vec<Reference<'a>>>,
    startTime: i64,
    duration: i64,
    #[serde(default, borrow)]
    tags: Option<Vec<Tag<'a>>>,
    #[serde(default, borrow)]
    logs: Option<Vec<Log<'a>>>,
    #[serde(default, borrow)]
    processID: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    process: Option<Process<'a>>,
    #[serde(default, borrow)]
    warnings: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Reference<'a> {
    #[serde(default = "child_of", borrow)]
    refType: Cow<'a, str>,
    #[serde(default, borrow)]
    traceID: Option<Cow<'a, str>>,
    #[serde(borrow)]
    spanID: Cow<'a, str>,
}

fn child_of() -> Cow<'static, str> {
    Cow::Borrowed("CHILD_OF")
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Process<'a> {
    #[serde(default, borrow)]
    serviceName: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tags: Option<Vec<Tag<'a>>>,
}

#[derive(Deserialize)]
struct Log<'a> {
    timestamp: i64,
    #[serde(default, borrow)]
    fields: Option<Vec<Tag<'a>>>,
}

#[derive(Deserialize)]
struct Tag<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(rename = "type", default = "string_type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    value: Value<'a>,
}

fn string_type() -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed("string"))
}

/// A tag value: the types the fast path renders, and Other for the rest (null, arrays, objects).
#[derive(Default)]
enum Value<'a> {
    Str(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    #[default]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Owned(text)))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value<'de>, E> {
                Ok(Value::Bool(value))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value<'de>, E> {
                Ok(Value::Int(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value<'de>, E> {
                Ok(Value::UInt(value))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value<'de>, E> {
                Ok(Value::Float(value))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value<'de>, E> {
                Ok(Value::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Value::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Value::Other)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

// ---- Arrow buffers ----

/// A string column: int32 offsets, UTF-8 data and a validity bitmap, as Arrow lays them out.
struct Strings {
    offsets: Vec<i32>,
    data: Vec<u8>,
    validity: Vec<u8>,
    nulls: usize,
    len: usize,
}

impl Default for Strings {
    fn default() -> Self {
        Strings {
            offsets: vec![0],
            data: Vec::new(),
            validity: Vec::new(),
            nulls: 0,
            len: 0,
        }
    }
}

impl Strings {
    fn mark(&mut self, valid: bool) {
        if self.len.is_multiple_of(8) {
            self.validity.push(0);
        }
        if valid {
            *self.validity.last_mut().unwrap() |= 1 << (self.len % 8);
        } else {
            self.nulls += 1;
        }
        self.len += 1;
    }

    fn end(&mut self) -> Mapped<()> {
        let end = i32::try_from(self.data.len()).map_err(|_| Fallback)?;
        self.offsets.push(end);
        Ok(())
    }

    fn push(&mut self, text: &str) -> Mapped<()> {
        self.data.extend_from_slice(text.as_bytes());
        self.mark(true);
        self.end()
    }

    fn push_null(&mut self) -> Mapped<()> {
        self.mark(false);
        self.end()
    }

    fn push_option(&mut self, text: Option<&str>) -> Mapped<()> {
        match text {
            Some(text) => self.push(text),
            None => self.push_null(),
        }
    }

    fn into_dict(self, out: &Bound<'_, PyDict>, name: &str) -> PyResult<()> {
        out.set_item(format!("{name}.offsets"), Buffer::from(self.offsets))?;
        out.set_item(format!("{name}.data"), Buffer::from(self.data))?;
        if self.nulls > 0 {
            out.set_item(format!("{name}.validity"), Buffer::from(self.validity))?;
        }
        out.set_item(format!("{name}.nulls"), self.nulls)?;
        Ok(())
    }
}

/// A list or map column's offsets: one per row, plus the end.
struct Offsets(Vec<i32>);

impl Default for Offsets {
    fn default() -> Self {
        Offsets(vec![0])
    }
}

impl Offsets {
    fn end(&mut self, items: usize) -> Mapped<()> {
        self.0.push(i32::try_from(items).map_err(|_| Fallback)?);
        Ok(())
    }
}

/// Map entries (key, text), as a map holds them.
type Entries<'b> = Vec<(&'b str, Cow<'b, str>)>;

/// ``entries`` (in the order given) as a map holds them: sorted by key (UTF-8 bytes, as Python
/// sorts), the last of a repeated key winning, as in a dict built from them in order.
fn sorted_unique(entries: &mut Entries<'_>) {
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes())); // stable: order kept
    entries.reverse(); // dedup keeps the first of a run: make it the last given
    entries.dedup_by(|later, earlier| later.0 == earlier.0);
    entries.reverse();
}

/// A column of string maps: offsets, keys and values.
#[derive(Default)]
struct Maps {
    offsets: Offsets,
    keys: Strings,
    values: Strings,
}

impl Maps {
    /// One map of ``entries`` (in order; see sorted_unique).
    fn push(&mut self, entries: &mut Entries<'_>) -> Mapped<()> {
        sorted_unique(entries);
        self.push_sorted(entries)
    }

    /// One map of entries already sorted_unique.
    fn push_sorted(&mut self, entries: &[(&str, Cow<'_, str>)]) -> Mapped<()> {
        for (key, value) in entries {
            self.keys.push(key)?;
            self.values.push(value)?;
        }
        self.offsets.end(self.keys.len)
    }

    fn into_dict(self, out: &Bound<'_, PyDict>, name: &str) -> PyResult<()> {
        out.set_item(format!("{name}.offsets"), Buffer::from(self.offsets.0))?;
        self.keys.into_dict(out, &format!("{name}.keys"))?;
        self.values.into_dict(out, &format!("{name}.values"))
    }
}

/// An Arrow buffer handed to Python without a copy: the vector it was built in, exposed
/// through the buffer protocol (read-only bytes) and freed when Python lets go of it.
#[pyclass(frozen)]
struct Buffer {
    bytes: Bytes,
}

enum Bytes {
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

impl From<Vec<u8>> for Buffer {
    fn from(values: Vec<u8>) -> Self {
        Buffer {
            bytes: Bytes::U8(values),
        }
    }
}

impl From<Vec<i32>> for Buffer {
    fn from(values: Vec<i32>) -> Self {
        Buffer {
            bytes: Bytes::I32(values),
        }
    }
}

impl From<Vec<i64>> for Buffer {
    fn from(values: Vec<i64>) -> Self {
        Buffer {
            bytes: Bytes::I64(values),
        }
    }
}

impl Buffer {
    fn as_slice(&self) -> &[u8] {
        match &self.bytes {
            Bytes::U8(values) => values,
            Bytes::I32(values) => as_bytes(values),
            Bytes::I64(values) => as_bytes(values),
        }
    }
}

#[pymethods]
impl Buffer {
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("View is null"));
        }
        if (flags & ffi::PyBUF_WRITABLE) == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("the buffer is read-only"));
        }
        let data = slf.get().as_slice();
        // SAFETY: ``view`` is the caller's to fill; the data lives as long as ``obj``, which
        // the view holds a reference to, and is never written.
        unsafe {
            (*view).buf = data.as_ptr() as *mut c_void;
            (*view).len = data.len() as isize;
            (*view).obj = slf.into_any().into_ptr();
            (*view).readonly = 1;
            (*view).itemsize = 1;
            (*view).format = if (flags & ffi::PyBUF_FORMAT) == ffi::PyBUF_FORMAT {
                c"B".as_ptr() as *mut _
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            (*view).shape = if (flags & ffi::PyBUF_ND) == ffi::PyBUF_ND {
                &mut (*view).len
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if (flags & ffi::PyBUF_STRIDES) == ffi::PyBUF_STRIDES {
                &mut (*view).itemsize
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    fn __len__(&self) -> usize {
        self.as_slice().len()
    }
}

fn as_bytes<T: Copy>(values: &[T]) -> &[u8] {
    // SAFETY: plain integers, read as their bytes (Arrow's buffers are little-endian, as is
    // every platform tracekit builds on); the slice borrows ``values``.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    }
}

// ---- the mapping (jaeger_json.traces_batch) ----

/// The text of a tag value, as `flat.tag_texts` renders it; Fallback for what only Python does.
fn text<'b>(tag: &'b Tag<'_>) -> Mapped<Cow<'b, str>> {
    match &tag.value {
        Value::Str(text) => Ok(Cow::Borrowed(text.as_ref())),
        Value::Bool(value) => Ok(Cow::Borrowed(if *value { "true" } else { "false" })),
        Value::Int(value) => Ok(Cow::Owned(value.to_string())),
        Value::UInt(value) => Ok(Cow::Owned(value.to_string())),
        Value::Float(value) => {
            let declared = tag.kind.as_deref().unwrap_or("string");
            if ["bool", "int64", "binary"]
                .iter()
                .any(|kind| declared.eq_ignore_ascii_case(kind))
            {
                return Err(Fallback);
            }
            // Go writes these with the shortest digits and no exponent, as Rust's Display does
            // (from 1e21 Go writes an exponent: values.go_float). From 1e18 a number may be
            // an integer literal past 64 bits, which serde_json reads as a double and Python
            // keeps exact: those are left to Python, as is a zero (Go writes 0.0 as 0, so a
            // 0.0 was not written by Go).
            if (1e-6..1e18).contains(&value.abs()) {
                shortest(*value).map(Cow::Owned)
            } else {
                Err(Fallback)
            }
        }
        Value::Other => Err(Fallback),
    }
}

/// The shortest digits that read back as ``value``, written out without an exponent; Fallback
/// when two candidates of that length are equally close. Python (and Go) pick the even one there,
/// Rust's Display the upper: 562949953421312.25 is "562949953421312.2" in Python, ".3" in Rust.
fn shortest(value: f64) -> Mapped<String> {
    let text = value.to_string();
    if let Some(exact) = exact_digits(value) {
        // a tie: the exact value is a midpoint, one digit longer than the shortest text and
        // ending in 5
        let digits = significant_digits(text.bytes().filter(u8::is_ascii_digit));
        if exact.len() == digits + 1 && exact.ends_with('5') {
            return Err(Fallback);
        }
    }
    Ok(text)
}

/// The significant digits of the exact decimal value of ``value``, when it has 18 or fewer
/// (only then can it be a midpoint between two texts of the shortest length, 17 at most).
fn exact_digits(value: f64) -> Option<String> {
    let bits = value.abs().to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let (mut mantissa, mut power) = if exponent == 0 {
        (bits & ((1 << 52) - 1), -1074)
    } else {
        ((bits & ((1 << 52) - 1)) | (1 << 52), exponent - 1075)
    };
    if mantissa == 0 {
        return None;
    }
    while mantissa % 2 == 0 && power < 0 {
        mantissa /= 2;
        power += 1;
    }
    // value = mantissa * 2^power; with power < 0 it is mantissa * 5^-power / 10^-power
    let scaled: u128 = if power >= 0 {
        (mantissa as u128).checked_shl(power as u32)?
    } else if -power <= 26 {
        mantissa as u128 * 5u128.pow((-power) as u32)
    } else {
        return None;
    };
    if scaled >= 10u128.pow(18) {
        return None;
    }
    Some(scaled.to_string().trim_end_matches('0').to_owned())
}

/// How many decimal digits there are without the leading and trailing zeros.
fn significant_digits(digits: impl Iterator<Item = u8>) -> usize {
    let digits: Vec<u8> = digits.collect();
    let first = digits.iter().position(|digit| *digit != b'0');
    let last = digits.iter().rposition(|digit| *digit != b'0');
    match (first, last) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    }
}

fn is_hex_id(id: &str, lengths: &[usize]) -> bool {
    lengths.contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// schema.normalize_trace_id: 16 or 32 hex chars lower-cased and left-padded to 32.
fn trace_id(id: &str) -> Cow<'_, str> {
    if is_hex_id(id, &[16, 32]) {
        Cow::Owned(format!("{:0>32}", id.to_ascii_lowercase()))
    } else {
        Cow::Borrowed(id)
    }
}

/// schema.normalize_span_id: 16 hex chars lower-cased.
fn span_id(id: &str) -> Cow<'_, str> {
    if is_hex_id(id, &[16]) && id.bytes().any(|byte| byte.is_ascii_uppercase()) {
        Cow::Owned(id.to_ascii_lowercase())
    } else {
        Cow::Borrowed(id)
    }
}

fn in_time(value: i64) -> Mapped<i64> {
    if (MIN_TIME_US..=MAX_TIME_US).contains(&value) {
        Ok(value)
    } else {
        Err(Fallback)
    }
}

/// An ASCII text upper-cased (the importer's utf8_upper); Fallback for other text, whose
/// Unicode upper case may differ (ı and ſ upper-case to I and S, as in CHILD_OF and FOLLOWS).
fn ascii_upper(text: &str) -> Mapped<String> {
    if text.is_ascii() {
        Ok(text.to_ascii_uppercase())
    } else {
        Err(Fallback)
    }
}

#[derive(Default)]
struct Columns {
    trace_id: Strings,
    span_id: Strings,
    parent: Strings,
    service: Strings,
    operation: Strings,
    kind: Strings,
    start: Vec<i64>,
    duration: Vec<i64>,
    status: Strings,
    message: Strings,
    attributes: Maps,
    resource: Maps,
    links: Offsets,
    link_trace: Strings,
    link_span: Strings,
    link_kind: Strings,
    events: Offsets,
    event_time: Vec<i64>,
    event_name: Strings,
    event_attributes: Maps,
}

/// A process rendered once per trace: its service and sorted tags.
struct Resource<'b> {
    service: Option<&'b str>,
    tags: Vec<(&'b str, Cow<'b, str>)>,
}

fn resource<'b>(process: &'b Process<'_>) -> Mapped<Resource<'b>> {
    let mut tags = Vec::new();
    for tag in process.tags.iter().flatten() {
        tags.push((tag.key.as_ref(), text(tag)?));
    }
    sorted_unique(&mut tags);
    let service = process
        .serviceName
        .as_deref()
        .filter(|name| !name.is_empty());
    Ok(Resource { service, tags })
}

fn map_document(document: &Document<'_>) -> Mapped<Columns> {
    let mut columns = Columns::default();
    for trace in &document.data {
        let processes = trace.processes.as_ref();
        let mut known: HashMap<&str, Resource<'_>> = HashMap::default();
        for span in &trace.spans {
            // the resource: the trace's process of this id, else the span's own
            let named = span
                .processID
                .as_deref()
                .and_then(|id| processes?.get(id).map(|p| (id, p)));
            let own;
            let rendered = match named {
                Some((id, process)) => {
                    if !known.contains_key(id) {
                        known.insert(id, resource(process)?);
                    }
                    &known[id]
                }
                None => {
                    own = resource(span.process.as_ref().ok_or(Fallback)?)?;
                    &own
                }
            };
            columns.service.push_option(rendered.service)?;
            columns.resource.push_sorted(&rendered.tags)?;

            let own_trace = trace_id(&span.traceID);
            columns.trace_id.push(&own_trace)?;
            columns.span_id.push(&span_id(&span.spanID))?;
            columns.operation.push(&span.operationName)?;

            let start = in_time(span.startTime)?;
            if span.duration < -i64::MAX || span.duration > MAX_TIME_US - MIN_TIME_US {
                return Err(Fallback);
            }
            let duration = span.duration.max(0);
            if start + duration > MAX_TIME_US {
                return Err(Fallback);
            }
            columns.start.push(start);
            columns.duration.push(duration);

            map_tags(span, &mut columns)?;
            map_references(span, &own_trace, &mut columns)?;

            for log in span.logs.iter().flatten() {
                columns.event_time.push(in_time(log.timestamp)?);
                let mut name: Option<Cow<'_, str>> = None;
                let mut entries = Vec::new();
                for field in log.fields.iter().flatten() {
                    let value = text(field)?;
                    if field.key == "event" {
                        name = Some(value);
                    } else {
                        entries.push((field.key.as_ref(), value));
                    }
                }
                columns.event_name.push(name.as_deref().unwrap_or(""))?;
                columns.event_attributes.push(&mut entries)?;
            }
            columns.events.end(columns.event_time.len())?;
        }
    }
    Ok(columns)
}

/// Kind, status, status message and attributes from a span's tags (jaeger_json._attributes).
fn map_tags(span: &Span<'_>, columns: &mut Columns) -> Mapped<()> {
    let tags = span.tags.as_deref().unwrap_or(&[]);
    let mut texts = Vec::with_capacity(tags.len());
    let mut kind = None;
    let mut code = None;
    let mut description = None;
    let mut errored = false;
    let (mut scope_name, mut scope_version) = (false, false);
    for (index, tag) in tags.iter().enumerate() {
        texts.push(text(tag)?);
        match tag.key.as_ref() {
            "span.kind" => kind = Some(index),
            "otel.status_code" => code = Some(index),
            "otel.status_description" => description = Some(index),
            // the last error tag decides: a bool true is the ultimate truth, as in Jaeger
            "error" => {
                errored = tag
                    .kind
                    .as_deref()
                    .unwrap_or("")
                    .eq_ignore_ascii_case("bool")
                    && matches!(tag.value, Value::Bool(true))
            }
            "otel.scope.name" => scope_name = true,
            "otel.scope.version" => scope_version = true,
            _ => {}
        }
    }
    let kind = kind
        .map(|index| texts[index].as_ref())
        .filter(|kind| KINDS.contains(kind));
    columns.kind.push(kind.unwrap_or("unspecified"))?;
    // the code upper-cased: OK or ERROR, else UNSET (text that is not ASCII upper-cases to
    // neither: of the letters of OK and ERROR, no other letter has one as its upper case)
    let code = code.map(|index| texts[index].to_ascii_uppercase());
    let status = match code.as_deref() {
        _ if errored => "ERROR",
        Some("OK") => "OK",
        Some("ERROR") => "ERROR",
        _ => "UNSET",
    };
    columns.status.push(status)?;
    let message = description
        .map(|index| texts[index].as_ref())
        .filter(|text| !text.is_empty());
    columns.message.push_option(message)?;

    let mut entries = Vec::with_capacity(tags.len() + 1);
    for (tag, value) in tags.iter().zip(texts) {
        let key = match tag.key.as_ref() {
            key if REMOVED.contains(&key) => continue,
            "error" if errored => continue,
            "otel.library.name" if scope_name => continue,
            "otel.library.version" if scope_version => continue,
            "otel.library.name" => "otel.scope.name",
            "otel.library.version" => "otel.scope.version",
            key => key,
        };
        entries.push((key, value));
    }
    // span warnings (Jaeger's clock skew adjuster writes them) as Jaeger keeps them in OTLP,
    // last, so that they win over a tag of the same key
    if let Some(warnings) = span
        .warnings
        .as_ref()
        .filter(|warnings| !warnings.is_empty())
    {
        entries.push(("@jaeger@warnings", Cow::Owned(go_json_strings(warnings))));
    }
    columns.attributes.push(&mut entries)
}

/// A list of strings as Go's json.Marshal writes it (values.go_json): quotes, backslashes,
/// HTML characters, the line and paragraph separators and control characters escaped.
fn go_json_strings(items: &[Cow<'_, str>]) -> String {
    let mut out = String::from("[");
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push('"');
        for char in item.chars() {
            match char {
                '"' => out.push_str(r#"\""#),
                '\\' => out.push_str(r"\\"),
                '\n' => out.push_str(r"\n"),
                '\r' => out.push_str(r"\r"),
                '\t' => out.push_str(r"\t"),
                '\u{8}' => out.push_str(r"\b"),
                '\u{c}' => out.push_str(r"\f"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    out.push_str(&format!(r"\u{:04x}", char as u32))
                }
                char if (char as u32) < 0x20 => out.push_str(&format!(r"\u{:04x}", char as u32)),
                char => out.push(char),
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}

/// The parent and the links (jaeger_json._references).
fn map_references(span: &Span<'_>, own_trace: &str, columns: &mut Columns) -> Mapped<()> {
    let mut references = Vec::new();
    for reference in span.references.iter().flatten() {
        let trace = match reference.traceID.as_deref() {
            Some(id) if !id.is_empty() => trace_id(id),
            _ => Cow::Borrowed(own_trace),
        };
        let kind = ascii_upper(&reference.refType)?;
        references.push((trace, span_id(&reference.spanID), kind));
    }
    // the first CHILD_OF into the same trace, else the first FOLLOWS_FROM
    let first = |wanted: &str| {
        references
            .iter()
            .find(|(trace, _, kind)| kind == wanted && trace == own_trace)
    };
    let parent = first("CHILD_OF")
        .or_else(|| first("FOLLOWS_FROM"))
        .map(|(_, span, _)| span);
    columns
        .parent
        .push_option(parent.map(|span| span.as_ref()))?;
    for (trace, span, kind) in &references {
        let child = kind == "CHILD_OF";
        if child && parent.is_some_and(|parent| parent == span) {
            continue; // every CHILD_OF to the parent's span id is the parent
        }
        columns.link_trace.push(trace)?;
        columns.link_span.push(span)?;
        columns
            .link_kind
            .push(if child { "child_of" } else { "follows_from" })?;
    }
    columns.links.end(columns.link_trace.len)
}

/// The span columns of a Jaeger JSON document as a dict of Arrow buffers (bytes) and counts,
/// or None when the Python importer must map it (see the module's documentation).
#[pyfunction]
fn jaeger_columns<'py>(py: Python<'py>, payload: &[u8]) -> PyResult<Option<Bound<'py, PyDict>>> {
    let mapped = py.detach(|| {
        let document: Document<'_> = serde_json::from_slice(payload).map_err(|_| Fallback)?;
        map_document(&document)
    });
    let Ok(columns) = mapped else {
        return Ok(None);
    };
    let out = PyDict::new(py);
    out.set_item("rows", columns.start.len())?;
    for (name, strings) in [
        ("trace_id", columns.trace_id),
        ("span_id", columns.span_id),
        ("parent_span_id", columns.parent),
        ("service", columns.service),
        ("operation", columns.operation),
        ("kind", columns.kind),
        ("status", columns.status),
        ("status_message", columns.message),
        ("links.trace_id", columns.link_trace),
        ("links.span_id", columns.link_span),
        ("links.kind", columns.link_kind),
        ("events.name", columns.event_name),
    ] {
        strings.into_dict(&out, name)?;
    }
    out.set_item("start_time", Buffer::from(columns.start))?;
    out.set_item("duration_us", Buffer::from(columns.duration))?;
    out.set_item("links.offsets", Buffer::from(columns.links.0))?;
    out.set_item("events.offsets", Buffer::from(columns.events.0))?;
    out.set_item("events.time", Buffer::from(columns.event_time))?;
    columns.attributes.into_dict(&out, "attributes")?;
    columns.resource.into_dict(&out, "resource")?;
    columns
        .event_attributes
        .into_dict(&out, "events.attributes")?;
    Ok(Some(out))
}

#[pymodule]
fn tracekit_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(jaeger_columns, module)?)?;
    Ok(())
}
