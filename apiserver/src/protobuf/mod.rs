//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//!
//! Stock kubectl (client-go's typed clients) sends the objects of its
//! imperative commands (`kubectl create configmap|secret|deployment|...`) as
//! protobuf. [`decode_to_json`] turns such a body into the JSON the same object
//! has in the JSON API, so everything after content negotiation stays JSON.
//!
//! Wire format: the magic `k8s\0`, then a `runtime.Unknown` message
//! {typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3,
//! contentType=4} whose `raw` is the object's message, chosen by
//! apiVersion/kind. Field numbers and wire kinds of every message are in the
//! generated table `schema_data.rs` (see `apiserver/tools/gen_protobuf_schema.py`),
//! together with the Go JSON names, `omitempty` (a zero scalar of a non-pointer
//! Go field is dropped, as `encoding/json` does), and `json:",inline"`
//! embedding. Types with a custom JSON form (Time, MicroTime, Duration,
//! Quantity, IntOrString, RawExtension, FieldsV1, ...) are rendered as Go's
//! `MarshalJSON` renders them; map keys come out sorted, like Go's.
//!
//! The input is untrusted: every length is checked, nesting is bounded by
//! [`MAX_DEPTH`], and nothing panics.

mod schema;
mod schema_data;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use schema::{Field, INLINE, Kind, Message, OMIT_ZERO, REPEATED, SKIP, Special};
use wire::{FIXED64, LEN, Reader, VARINT};

/// The media type of Kubernetes protobuf.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The 4-byte prefix of every Kubernetes protobuf object.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The deepest nesting of messages accepted (the deepest real objects, CRD
/// schemas, stay far below).
pub const MAX_DEPTH: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtobufError {
    #[error("protobuf body does not start with the Kubernetes magic number")]
    MissingMagic,
    #[error("truncated protobuf data")]
    Truncated,
    #[error("malformed varint in protobuf data")]
    BadVarint,
    #[error("invalid field key in protobuf data")]
    BadKey,
    #[error("unsupported protobuf wire type {0}")]
    UnsupportedWireType(u8),
    #[error("{message}: field {field} has wire type {wire_type}, expected {expected}")]
    WireType {
        message: &'static str,
        field: u32,
        wire_type: u8,
        expected: u8,
    },
    #[error("protobuf messages nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("protobuf object has no kind")]
    MissingKind,
    #[error("no kind \"{kind}\" is registered for version \"{api_version}\"")]
    UnknownKind { api_version: String, kind: String },
    #[error("unsupported protobuf content encoding \"{0}\"")]
    ContentEncoding(String),
    #[error("{message}: invalid embedded JSON: {error}")]
    EmbeddedJson {
        message: &'static str,
        error: String,
    },
    #[error("IntOrString: impossible type {0}")]
    IntOrStringType(i64),
    #[error("time out of range: {0}s")]
    TimeRange(i64),
    #[error("non-finite floating point number")]
    NonFinite,
    #[error("protobuf schema table is inconsistent")]
    Schema,
}

/// Decodes a Kubernetes protobuf object (`k8s\0` + `runtime.Unknown`) into its
/// JSON form, `kind` and `apiVersion` first.
pub fn decode_to_json(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_envelope(body, 0)
}

fn decode_envelope(body: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep);
    }
    let unknown = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ProtobufError::MissingMagic)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut content_encoding = String::new();
    let mut r = Reader::new(unknown);
    while !r.is_empty() {
        let (number, wire_type) = r.key()?;
        if (1..=4).contains(&number) && wire_type != LEN {
            return Err(ProtobufError::WireType {
                message: "runtime.Unknown",
                field: number,
                wire_type,
                expected: LEN,
            });
        }
        match number {
            1 => {
                let mut t = Reader::new(r.bytes()?);
                while !t.is_empty() {
                    match t.key()? {
                        (1, LEN) => api_version = lossy(t.bytes()?),
                        (2, LEN) => kind = lossy(t.bytes()?),
                        (field @ (1 | 2), wire_type) => {
                            return Err(ProtobufError::WireType {
                                message: "runtime.TypeMeta",
                                field,
                                wire_type,
                                expected: LEN,
                            });
                        }
                        (_, wire_type) => t.skip(wire_type)?,
                    }
                }
            }
            2 => raw = r.bytes()?,
            3 => content_encoding = lossy(r.bytes()?),
            4 => drop(r.bytes()?),
            _ => r.skip(wire_type)?,
        }
    }
    if !content_encoding.is_empty() {
        return Err(ProtobufError::ContentEncoding(content_encoding));
    }
    if kind.is_empty() {
        return Err(ProtobufError::MissingKind);
    }
    let index =
        schema::kind_message(&api_version, &kind).ok_or_else(|| ProtobufError::UnknownKind {
            api_version: api_version.clone(),
            kind: kind.clone(),
        })?;
    let object = decode_message(raw, index, depth + 1)?;
    let mut out = Map::new();
    out.insert("kind".into(), Value::String(kind));
    if !api_version.is_empty() {
        out.insert("apiVersion".into(), Value::String(api_version));
    }
    if let Value::Object(fields) = object {
        out.extend(fields);
    }
    Ok(Value::Object(out))
}

/// What a field accumulated while its message was read.
enum Slot {
    One(Value),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Slot {
    fn into_value(self) -> Value {
        match self {
            Slot::One(v) => v,
            Slot::List(items) => Value::Array(items),
            Slot::Map(entries) => Value::Object(entries.into_iter().collect()),
        }
    }
}

fn decode_message(buf: &[u8], index: u16, depth: usize) -> Result<Value, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep);
    }
    let msg = schema::message(index).ok_or(ProtobufError::Schema)?;
    match msg.special {
        Special::None => {}
        Special::Time | Special::MicroTime => return time(buf, msg, depth),
        Special::RawJson => return raw_json(buf, msg, depth),
        special => return decode_special(buf, msg, special, depth),
    }
    let slots = decode_fields(buf, msg, depth)?;
    let mut out = Map::new();
    for (slot, &(_, name, kind, flags)) in slots.into_iter().zip(msg.fields) {
        let Some(slot) = slot else { continue };
        if flags & SKIP != 0 {
            continue;
        }
        let value = slot.into_value();
        if flags & OMIT_ZERO != 0 && is_zero(&value, kind) {
            continue;
        }
        if flags & INLINE != 0 {
            if let Value::Object(fields) = value {
                out.extend(fields);
            }
            continue;
        }
        out.insert(name.to_owned(), value);
    }
    Ok(Value::Object(out))
}

/// Reads the fields of one message into per-field slots (table order).
fn decode_fields(
    buf: &[u8],
    msg: &'static Message,
    depth: usize,
) -> Result<Vec<Option<Slot>>, ProtobufError> {
    let mut slots: Vec<Option<Slot>> = msg.fields.iter().map(|_| None).collect();
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (number, wire_type) = r.key()?;
        let found = msg
            .fields
            .iter()
            .zip(slots.iter_mut())
            .find(|((n, ..), _)| *n == number);
        let Some((&(_, _, kind, flags), slot)) = found else {
            r.skip(wire_type)?;
            continue;
        };
        let expect = |expected: u8| {
            if wire_type == expected {
                Ok(())
            } else {
                Err(ProtobufError::WireType {
                    message: msg.name,
                    field: number,
                    wire_type,
                    expected,
                })
            }
        };
        match kind {
            Kind::MapStr | Kind::MapBytes | Kind::MapMsg(_) => {
                expect(LEN)?;
                let (key, value) = map_entry(r.bytes()?, kind, msg, depth)?;
                match slot {
                    Some(Slot::Map(entries)) => {
                        entries.insert(key, value);
                    }
                    _ => *slot = Some(Slot::Map(BTreeMap::from([(key, value)]))),
                }
            }
            _ if flags & REPEATED != 0 => {
                let mut items = match slot.take() {
                    Some(Slot::List(items)) => items,
                    _ => Vec::new(),
                };
                let packable = matches!(kind, Kind::Bool | Kind::I32 | Kind::I64 | Kind::F64);
                if packable && wire_type == LEN {
                    let mut packed = Reader::new(r.bytes()?);
                    while !packed.is_empty() {
                        items.push(value(&mut packed, kind, depth)?);
                    }
                } else {
                    expect(wire_type_of(kind))?;
                    items.push(value(&mut r, kind, depth)?);
                }
                *slot = Some(Slot::List(items));
            }
            _ => {
                expect(wire_type_of(kind))?;
                *slot = Some(Slot::One(value(&mut r, kind, depth)?));
            }
        }
    }
    Ok(slots)
}

fn wire_type_of(kind: Kind) -> u8 {
    match kind {
        Kind::Bool | Kind::I32 | Kind::I64 => VARINT,
        Kind::F64 => FIXED64,
        _ => LEN,
    }
}

/// One value of a non-map kind; the wire type has been checked.
fn value(r: &mut Reader<'_>, kind: Kind, depth: usize) -> Result<Value, ProtobufError> {
    Ok(match kind {
        Kind::Str => Value::String(lossy(r.bytes()?)),
        Kind::Bytes => Value::String(base64::engine::general_purpose::STANDARD.encode(r.bytes()?)),
        Kind::Bool => Value::Bool(r.varint()? != 0),
        // Go reads an int32 field as the low 32 bits of the varint.
        Kind::I32 => Value::from(r.varint()? as u32 as i32),
        Kind::I64 => Value::from(r.varint()? as i64),
        Kind::F64 => float(f64::from_bits(r.fixed64()?))?,
        Kind::Msg(index) => decode_message(r.bytes()?, index, depth + 1)?,
        Kind::MapStr | Kind::MapBytes | Kind::MapMsg(_) => return Err(ProtobufError::Schema),
    })
}

/// A map entry {key=1, value=2}; a missing value is the zero value.
fn map_entry(
    buf: &[u8],
    kind: Kind,
    msg: &'static Message,
    depth: usize,
) -> Result<(String, Value), ProtobufError> {
    let value_kind = match kind {
        Kind::MapStr => Kind::Str,
        Kind::MapBytes => Kind::Bytes,
        Kind::MapMsg(index) => Kind::Msg(index),
        _ => return Err(ProtobufError::Schema),
    };
    let mut key = String::new();
    let mut val = None;
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (number, wire_type) = r.key()?;
        match number {
            1 | 2 if wire_type != LEN => {
                return Err(ProtobufError::WireType {
                    message: msg.name,
                    field: number,
                    wire_type,
                    expected: LEN,
                });
            }
            1 => key = lossy(r.bytes()?),
            2 => val = Some(value(&mut r, value_kind, depth)?),
            _ => r.skip(wire_type)?,
        }
    }
    let val = match (val, value_kind) {
        (Some(v), _) => v,
        (None, Kind::Msg(index)) => decode_message(&[], index, depth + 1)?,
        (None, _) => Value::String(String::new()),
    };
    Ok((key, val))
}

/// The value of the field numbered `number` among decoded slots.
fn field<'s>(msg: &Message, slots: &'s [Option<Slot>], number: u32) -> Option<&'s Slot> {
    msg.fields
        .iter()
        .zip(slots)
        .find(|(f, _): &(&Field, _)| f.0 == number)
        .and_then(|(_, s)| s.as_ref())
}

fn one(slot: Option<&Slot>) -> Option<&Value> {
    match slot {
        Some(Slot::One(v)) => Some(v),
        _ => None,
    }
}

fn list(slot: Option<Slot>) -> Option<Vec<Value>> {
    match slot {
        Some(Slot::List(items)) if !items.is_empty() => Some(items),
        _ => None,
    }
}

fn take_field(msg: &Message, slots: &mut [Option<Slot>], number: u32) -> Option<Slot> {
    msg.fields
        .iter()
        .zip(slots.iter_mut())
        .find(|(f, _)| f.0 == number)
        .and_then(|(_, s)| s.take())
}

fn decode_special(
    buf: &[u8],
    msg: &'static Message,
    special: Special,
    depth: usize,
) -> Result<Value, ProtobufError> {
    let mut slots = decode_fields(buf, msg, depth)?;
    let int = |number| one(field(msg, &slots, number)).and_then(Value::as_i64);
    Ok(match special {
        Special::Duration => Value::String(go_duration(int(1).unwrap_or(0))),
        Special::Quantity => one(field(msg, &slots, 1))
            .cloned()
            .unwrap_or_else(|| Value::String("0".into())),
        Special::IntOrString => match int(1).unwrap_or(0) {
            0 => Value::from(int(2).unwrap_or(0)),
            1 => one(field(msg, &slots, 3))
                .cloned()
                .unwrap_or_else(|| Value::String(String::new())),
            other => return Err(ProtobufError::IntOrStringType(other)),
        },
        Special::StringArray => list(take_field(msg, &mut slots, 1))
            .map(Value::Array)
            .unwrap_or(Value::Null),
        // {schema=1, jSONSchemas=2}: the array if any, else the schema.
        Special::SchemaOrArray => match list(take_field(msg, &mut slots, 2)) {
            Some(items) => Value::Array(items),
            None => take_field(msg, &mut slots, 1).map_or(Value::Null, Slot::into_value),
        },
        // {allows=1, schema=2}: the schema if any, else the boolean.
        Special::SchemaOrBool => match take_field(msg, &mut slots, 2) {
            Some(schema) => schema.into_value(),
            None => Value::Bool(
                one(field(msg, &slots, 1))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ),
        },
        // {schema=1, property=2}: the strings if any, else the schema.
        Special::SchemaOrStringArray => match list(take_field(msg, &mut slots, 2)) {
            Some(items) => Value::Array(items),
            None => take_field(msg, &mut slots, 1).map_or(Value::Null, Slot::into_value),
        },
        Special::None | Special::Time | Special::MicroTime | Special::RawJson => {
            return Err(ProtobufError::Schema);
        }
    })
}

/// `Time`/`MicroTime` {seconds=1, nanos=2}; an empty message is Go's zero time,
/// which marshals as `null`.
fn time(buf: &[u8], msg: &'static Message, depth: usize) -> Result<Value, ProtobufError> {
    if buf.is_empty() {
        return Ok(Value::Null);
    }
    let slots = decode_fields(buf, msg, depth)?;
    let int = |number| {
        one(field(msg, &slots, number))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let (seconds, nanos) = (int(1), int(2));
    // time.Unix normalises nanoseconds outside [0, 1e9).
    let seconds = seconds
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or(ProtobufError::TimeRange(seconds))?;
    let nanos = nanos.rem_euclid(1_000_000_000) as u32;
    // Go's zero time.Time (0001-01-01T00:00:00Z) marshals as null.
    if seconds == -62_135_596_800 && nanos == 0 {
        return Ok(Value::Null);
    }
    let t = chrono::DateTime::from_timestamp(seconds, nanos)
        .filter(|t| (0..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or(ProtobufError::TimeRange(seconds))?;
    let text = if msg.special == Special::MicroTime {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    };
    Ok(Value::String(text))
}

/// `RawExtension`/`FieldsV1`/`JSON` {raw=1}: the embedded JSON (or a nested
/// protobuf object); empty is `null`.
fn raw_json(buf: &[u8], msg: &'static Message, depth: usize) -> Result<Value, ProtobufError> {
    let mut raw: &[u8] = &[];
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        match r.key()? {
            (1, LEN) => raw = r.bytes()?,
            (1, wire_type) => {
                return Err(ProtobufError::WireType {
                    message: msg.name,
                    field: 1,
                    wire_type,
                    expected: LEN,
                });
            }
            (_, wire_type) => r.skip(wire_type)?,
        }
    }
    if raw.is_empty() {
        Ok(Value::Null)
    } else if raw.starts_with(MAGIC) {
        decode_envelope(raw, depth + 1)
    } else {
        serde_json::from_slice(raw).map_err(|e| ProtobufError::EmbeddedJson {
            message: msg.name,
            error: e.to_string(),
        })
    }
}

fn is_zero(value: &Value, kind: Kind) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        _ => matches!(kind, Kind::Msg(_)) && value.as_object().is_some_and(Map::is_empty),
    }
}

fn float(f: f64) -> Result<Value, ProtobufError> {
    if !f.is_finite() {
        return Err(ProtobufError::NonFinite);
    }
    // Go prints integral floats without a fraction.
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return Ok(Value::from(f as i64));
    }
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or(ProtobufError::NonFinite)
}

fn lossy(bytes: &[u8]) -> String {
    // Go's encoding/json replaces invalid UTF-8 with U+FFFD too.
    String::from_utf8_lossy(bytes).into_owned()
}

/// Go's `time.Duration.String()`: "1h2m3.5s", "1.5ms", "0s".
fn go_duration(d: i64) -> String {
    fn fraction(out: &mut Vec<u8>, mut v: u64, precision: u32) -> u64 {
        let mut printed = false;
        for _ in 0..precision {
            let digit = (v % 10) as u8;
            printed = printed || digit != 0;
            if printed {
                out.push(b'0' + digit);
            }
            v /= 10;
        }
        if printed {
            out.push(b'.');
        }
        v
    }
    fn integer(out: &mut Vec<u8>, mut v: u64) {
        loop {
            out.push(b'0' + (v % 10) as u8);
            v /= 10;
            if v == 0 {
                break;
            }
        }
    }
    if d == 0 {
        return "0s".into();
    }
    let mut u = d.unsigned_abs();
    // Built backwards, then reversed.
    let mut out: Vec<u8> = Vec::new();
    if u < 1_000_000_000 {
        let (precision, unit): (u32, &str) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        out.extend(unit.bytes().rev());
        u = fraction(&mut out, u, precision);
        integer(&mut out, u);
    } else {
        out.push(b's');
        u = fraction(&mut out, u, 9);
        integer(&mut out, u % 60);
        u /= 60;
        if u > 0 {
            out.push(b'm');
            integer(&mut out, u % 60);
            u /= 60;
            if u > 0 {
                out.push(b'h');
                integer(&mut out, u);
            }
        }
    }
    if d < 0 {
        out.push(b'-');
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}
