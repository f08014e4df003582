//! The OTLP trace messages as OTLP/JSON sees them: each field's JSON names (lowerCamelCase and
//! the proto's snake_case), its protobuf number and how its value is written.

/// The messages of an `ExportTraceServiceRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    ResourceSpans,
    Resource,
    EntityRef,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    Status,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

/// How a field's JSON value becomes protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A singular message: written when present, even empty.
    Msg(Kind),
    /// A repeated message: a JSON array of objects.
    Repeated(Kind),
    /// A string, omitted when empty.
    Str,
    /// A repeated string.
    Strs,
    /// A span's trace or span id in hex. Not valid hex: written empty, so that ingest rejects
    /// that span alone (an empty id is invalid).
    SpanId,
    /// A span's parent id in hex. Not valid hex: the span's id is written empty after it, so
    /// that ingest rejects that span alone (an empty parent would make it a root instead).
    ParentId,
    /// A link's trace or span id in hex. Not valid hex: written empty.
    LinkId,
    Fixed64,
    Fixed32,
    Uint32,
    Int32,
    /// An enum: its number, or its name in this table.
    Enum(&'static [(&'static str, i32)]),
    /// `AnyValue`'s oneof members: written even when they hold the default value.
    OneStr,
    OneBool,
    OneInt64,
    OneDouble,
    OneBytes,
    OneInt32,
}

pub struct Field {
    pub camel: &'static str,
    pub snake: &'static str,
    pub num: u32,
    pub ty: Ty,
}

const fn f(camel: &'static str, snake: &'static str, num: u32, ty: Ty) -> Field {
    Field {
        camel,
        snake,
        num,
        ty,
    }
}

/// `attributes` and `droppedAttributesCount`, which five messages carry under their own numbers.
const fn attributes(num: u32) -> Field {
    f("attributes", "attributes", num, Repeated(Kind::KeyValue))
}

const fn dropped_attributes(num: u32) -> Field {
    f(
        "droppedAttributesCount",
        "dropped_attributes_count",
        num,
        Uint32,
    )
}

const SPAN_KIND: &[(&str, i32)] = &[
    ("SPAN_KIND_UNSPECIFIED", 0),
    ("SPAN_KIND_INTERNAL", 1),
    ("SPAN_KIND_SERVER", 2),
    ("SPAN_KIND_CLIENT", 3),
    ("SPAN_KIND_PRODUCER", 4),
    ("SPAN_KIND_CONSUMER", 5),
];

const STATUS_CODE: &[(&str, i32)] = &[
    ("STATUS_CODE_UNSET", 0),
    ("STATUS_CODE_OK", 1),
    ("STATUS_CODE_ERROR", 2),
];

use Kind as K;
use Ty::*;

const REQUEST: &[Field] = &[f(
    "resourceSpans",
    "resource_spans",
    1,
    Repeated(K::ResourceSpans),
)];

const RESOURCE_SPANS: &[Field] = &[
    f("resource", "resource", 1, Msg(K::Resource)),
    f("scopeSpans", "scope_spans", 2, Repeated(K::ScopeSpans)),
    f("schemaUrl", "schema_url", 3, Str),
];

const RESOURCE: &[Field] = &[
    attributes(1),
    dropped_attributes(2),
    f("entityRefs", "entity_refs", 3, Repeated(K::EntityRef)),
];

const ENTITY_REF: &[Field] = &[
    f("schemaUrl", "schema_url", 1, Str),
    f("type", "type", 2, Str),
    f("idKeys", "id_keys", 3, Strs),
    f("descriptionKeys", "description_keys", 4, Strs),
];

const SCOPE_SPANS: &[Field] = &[
    f("scope", "scope", 1, Msg(K::Scope)),
    f("spans", "spans", 2, Repeated(K::Span)),
    f("schemaUrl", "schema_url", 3, Str),
];

const SCOPE: &[Field] = &[
    f("name", "name", 1, Str),
    f("version", "version", 2, Str),
    attributes(3),
    dropped_attributes(4),
];

const SPAN: &[Field] = &[
    f("traceId", "trace_id", 1, SpanId),
    f("spanId", "span_id", 2, SpanId),
    f("traceState", "trace_state", 3, Str),
    f("parentSpanId", "parent_span_id", 4, ParentId),
    f("name", "name", 5, Str),
    f("kind", "kind", 6, Enum(SPAN_KIND)),
    f("startTimeUnixNano", "start_time_unix_nano", 7, Fixed64),
    f("endTimeUnixNano", "end_time_unix_nano", 8, Fixed64),
    attributes(9),
    dropped_attributes(10),
    f("events", "events", 11, Repeated(K::Event)),
    f("droppedEventsCount", "dropped_events_count", 12, Uint32),
    f("links", "links", 13, Repeated(K::Link)),
    f("droppedLinksCount", "dropped_links_count", 14, Uint32),
    f("status", "status", 15, Msg(K::Status)),
    f("flags", "flags", 16, Fixed32),
];

const EVENT: &[Field] = &[
    f("timeUnixNano", "time_unix_nano", 1, Fixed64),
    f("name", "name", 2, Str),
    attributes(3),
    dropped_attributes(4),
];

const LINK: &[Field] = &[
    f("traceId", "trace_id", 1, LinkId),
    f("spanId", "span_id", 2, LinkId),
    f("traceState", "trace_state", 3, Str),
    attributes(4),
    dropped_attributes(5),
    f("flags", "flags", 6, Fixed32),
];

const STATUS: &[Field] = &[
    f("message", "message", 2, Str),
    f("code", "code", 3, Enum(STATUS_CODE)),
];

const KEY_VALUE: &[Field] = &[
    f("key", "key", 1, Str),
    f("value", "value", 2, Msg(K::AnyValue)),
    f("keyStrindex", "key_strindex", 3, Int32),
];

const ANY_VALUE: &[Field] = &[
    f("stringValue", "string_value", 1, OneStr),
    f("boolValue", "bool_value", 2, OneBool),
    f("intValue", "int_value", 3, OneInt64),
    f("doubleValue", "double_value", 4, OneDouble),
    f("arrayValue", "array_value", 5, Msg(K::ArrayValue)),
    f("kvlistValue", "kvlist_value", 6, Msg(K::KeyValueList)),
    f("bytesValue", "bytes_value", 7, OneBytes),
    f("stringValueStrindex", "string_value_strindex", 8, OneInt32),
];

const ARRAY_VALUE: &[Field] = &[f("values", "values", 1, Repeated(K::AnyValue))];

const KEY_VALUE_LIST: &[Field] = &[f("values", "values", 1, Repeated(K::KeyValue))];

impl Kind {
    pub fn fields(self) -> &'static [Field] {
        match self {
            K::Request => REQUEST,
            K::ResourceSpans => RESOURCE_SPANS,
            K::Resource => RESOURCE,
            K::EntityRef => ENTITY_REF,
            K::ScopeSpans => SCOPE_SPANS,
            K::Scope => SCOPE,
            K::Span => SPAN,
            K::Event => EVENT,
            K::Link => LINK,
            K::Status => STATUS,
            K::KeyValue => KEY_VALUE,
            K::AnyValue => ANY_VALUE,
            K::ArrayValue => ARRAY_VALUE,
            K::KeyValueList => KEY_VALUE_LIST,
        }
    }

    /// The field a JSON key names, if any (unknown keys are ignored).
    pub fn field(self, key: &str) -> Option<&'static Field> {
        self.fields()
            .iter()
            .find(|f| f.camel == key || f.snake == key)
    }
}
