//! The shape of the generated message table (`schema_data.rs`).

use super::schema_data::{KINDS, MESSAGES};

/// How a field is encoded on the wire and rendered in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Str,
    /// `bytes`: base64 in JSON.
    Bytes,
    Bool,
    I32,
    I64,
    F64,
    /// A nested message (index into [`MESSAGES`]).
    Msg(u16),
    /// `map<string, string>`.
    MapStr,
    /// `map<string, bytes>` (values base64 in JSON).
    MapBytes,
    /// `map<string, Message>`.
    MapMsg(u16),
}

/// Messages whose JSON form is not the plain object of their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Special {
    None,
    /// `meta/v1.Time`: RFC 3339, whole seconds.
    Time,
    /// `meta/v1.MicroTime`: RFC 3339 with 6 fractional digits.
    MicroTime,
    /// `meta/v1.Duration`: Go duration string.
    Duration,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`, `FieldsV1`, apiextensions `JSON`: raw JSON bytes.
    RawJson,
    /// Go `type X []string` (`ExtraValue`, `Verbs`): `{items=1}` as an array.
    StringArray,
    /// apiextensions `JSONSchemaPropsOrArray`.
    SchemaOrArray,
    /// apiextensions `JSONSchemaPropsOrBool`.
    SchemaOrBool,
    /// apiextensions `JSONSchemaPropsOrStringArray`.
    SchemaOrStringArray,
}

/// Field flags.
pub(super) const REPEATED: u8 = 1;
/// A non-pointer Go scalar with `omitempty`: a zero value is left out of the JSON.
pub(super) const OMIT_ZERO: u8 = 2;
/// An embedded Go struct (`json:",inline"`): its fields merge into the parent.
pub(super) const INLINE: u8 = 4;
/// `json:"-"`: never rendered.
pub(super) const SKIP: u8 = 8;

/// (field number, JSON name, kind, flags).
pub(super) type Field = (u32, &'static str, Kind, u8);

#[derive(Debug)]
pub(super) struct Message {
    /// Proto package path without `k8s.io.` plus the message name.
    pub name: &'static str,
    pub special: Special,
    /// In Go declaration order (the order of the JSON keys).
    pub fields: &'static [Field],
}

pub(super) fn message(index: u16) -> Option<&'static Message> {
    MESSAGES.get(usize::from(index))
}

/// The index of a message by full name (e.g. `api.core.v1.Pod`).
#[cfg(test)]
pub(super) fn message_index(name: &str) -> Option<u16> {
    MESSAGES
        .iter()
        .position(|m| m.name == name)
        .and_then(|i| u16::try_from(i).ok())
}

/// The message for an `apiVersion`/`kind` pair. Option kinds of `meta.k8s.io/v1`
/// (`DeleteOptions`, ...) are registered in every group version, so they are
/// accepted under any `apiVersion`.
pub(super) fn kind_message(api_version: &str, kind: &str) -> Option<u16> {
    let find = |av: &str| {
        KINDS
            .binary_search_by(|(a, k, _)| (*a, *k).cmp(&(av, kind)))
            .ok()
            .map(|i| KINDS[i].2)
    };
    find(api_version).or_else(|| find("meta.k8s.io/v1"))
}
