//! The `media` option of fidelity profiles: finds encoded media (data URLs, base64 text of a
//! known image, video, audio or PDF format, bytes in such a format) under any key, and
//! reduces it to its hash, size and media type.

use super::fidelity::hash_value;
use base64::Engine;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

/// What a reduced value was.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// `sha256:<16 hex digits>` of the value as received (the text of a string, the bytes).
    pub digest: String,
    /// Its size in bytes as received.
    pub size: usize,
    pub media_type: String,
}

/// The media type of a format's first bytes, when it is one we recognise.
pub fn sniff(b: &[u8]) -> Option<&'static str> {
    let at = |i: usize, m: &[u8]| b.get(i..i + m.len()) == Some(m);
    Some(match () {
        _ if at(0, b"\x89PNG\r\n\x1a\n") => "image/png",
        _ if at(0, b"\xff\xd8\xff") => "image/jpeg",
        _ if at(0, b"GIF87a") || at(0, b"GIF89a") => "image/gif",
        _ if at(0, b"RIFF") && at(8, b"WEBP") => "image/webp",
        _ if at(0, b"RIFF") && at(8, b"WAVE") => "audio/wav",
        _ if at(0, b"RIFF") && at(8, b"AVI ") => "video/x-msvideo",
        _ if at(4, b"ftypavif") => "image/avif",
        _ if at(4, b"ftypheic") || at(4, b"ftypmif1") => "image/heic",
        _ if at(4, b"ftypqt  ") => "video/quicktime",
        _ if at(4, b"ftypM4A ") => "audio/mp4",
        _ if at(4, b"ftyp") => "video/mp4",
        _ if at(0, b"\x1a\x45\xdf\xa3") => "video/webm",
        _ if at(0, b"II*\0") || at(0, b"MM\0*") => "image/tiff",
        _ if at(0, b"%PDF-") => "application/pdf",
        _ if at(0, b"OggS") => "audio/ogg",
        _ if at(0, b"fLaC") => "audio/flac",
        _ if at(0, b"ID3") => "audio/mpeg",
        _ => return None,
    })
}

/// The media type of a `data:` URL (`data:image/png;base64,...`), `application/octet-stream`
/// when it names none.
fn data_url_type(s: &str) -> Option<String> {
    let rest = s.strip_prefix("data:")?;
    let end = rest.find([';', ','])?;
    let t = &rest[..end];
    let token = |c: char| c.is_ascii_alphanumeric() || "/+-.".contains(c);
    if t.len() > 100 || !t.chars().all(token) {
        return None;
    }
    Some(if t.is_empty() {
        "application/octet-stream".to_string()
    } else {
        t.to_ascii_lowercase()
    })
}

fn is_base64(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_'))
}

/// The media type of base64 text: its first 24 characters (18 bytes) decoded and sniffed.
fn base64_type(s: &str) -> Option<&'static str> {
    let head = s.get(..24)?;
    let engines = [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let decoded = engines.iter().find_map(|e| e.decode(head).ok())?;
    sniff(&decoded).filter(|_| is_base64(s))
}

/// Whether `v` is encoded media of at least `min_bytes`, and what it is.
pub fn detect(v: &Value, min_bytes: usize) -> Option<Found> {
    let (raw, media_type): (&[u8], String) = match v {
        Value::StringValue(s) if s.len() >= min_bytes => {
            let t = data_url_type(s).or_else(|| base64_type(s).map(str::to_string))?;
            (s.as_bytes(), t)
        }
        Value::BytesValue(b) if b.len() >= min_bytes => (b, sniff(b)?.to_string()),
        _ => return None,
    };
    Some(Found {
        digest: hash_value(raw),
        size: raw.len(),
        media_type,
    })
}

/// Reduces attribute `key`'s value when it is encoded media: the value becomes its digest and
/// `<key>.size` and `<key>.media_type` are added to `added`; media nested in arrays and maps is
/// reduced in place. Returns how many values were reduced.
pub fn reduce_attribute(
    key: &str,
    v: &mut Value,
    min_bytes: usize,
    added: &mut Vec<KeyValue>,
) -> usize {
    let Some(f) = detect(v, min_bytes) else {
        return reduce_nested(v, min_bytes);
    };
    *v = Value::StringValue(f.digest);
    let kv = |k: String, v: Value| KeyValue {
        key: k,
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    added.push(kv(format!("{key}.size"), Value::IntValue(f.size as i64)));
    added.push(kv(
        format!("{key}.media_type"),
        Value::StringValue(f.media_type),
    ));
    1
}

/// Reduces encoded media nested in arrays and maps, in place, to one string saying what it
/// was (`sha256:...;type=image/png;size=123456`). Returns how many values were reduced.
pub fn reduce_nested(v: &mut Value, min_bytes: usize) -> usize {
    match v {
        Value::ArrayValue(a) => a
            .values
            .iter_mut()
            .filter_map(|v| v.value.as_mut())
            .map(|v| reduce_in_place(v, min_bytes))
            .sum(),
        Value::KvlistValue(m) => m
            .values
            .iter_mut()
            .filter_map(|kv| kv.value.as_mut().and_then(|v| v.value.as_mut()))
            .map(|v| reduce_in_place(v, min_bytes))
            .sum(),
        _ => 0,
    }
}

fn reduce_in_place(v: &mut Value, min_bytes: usize) -> usize {
    match detect(v, min_bytes) {
        Some(f) => {
            *v = Value::StringValue(format!(
                "{};type={};size={}",
                f.digest, f.media_type, f.size
            ));
            1
        }
        None => reduce_nested(v, min_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn png(n: usize) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        b.resize(n, 7);
        b
    }

    #[test]
    fn finds_base64_images_data_urls_and_raw_bytes() {
        let b64 = STANDARD.encode(png(3000));
        let f = detect(&Value::StringValue(b64.clone()), 1024).unwrap();
        assert_eq!(f.media_type, "image/png");
        assert_eq!(f.size, b64.len());
        assert_eq!(f.digest, hash_value(b64.as_bytes()));
        let url = format!("data:image/jpeg;base64,{}", STANDARD.encode([0xff; 2000]));
        assert_eq!(
            detect(&Value::StringValue(url), 1024).unwrap().media_type,
            "image/jpeg"
        );
        let mut mp4 = b"\0\0\0\x18ftypisom".to_vec();
        mp4.resize(5000, 1);
        assert_eq!(
            detect(&Value::BytesValue(mp4), 1024).unwrap().media_type,
            "video/mp4"
        );
    }

    #[test]
    fn leaves_text_small_values_and_unknown_blobs_alone() {
        let small = STANDARD.encode(png(100));
        assert_eq!(detect(&Value::StringValue(small), 1024), None);
        let prose = "a cat riding a bicycle ".repeat(200);
        assert_eq!(detect(&Value::StringValue(prose), 1024), None);
        let letters = "A".repeat(5000);
        assert_eq!(
            detect(&Value::StringValue(letters), 1024),
            None,
            "base64 of no known format"
        );
        let mut broken = STANDARD.encode(png(3000));
        broken.push_str(" and then prose");
        assert_eq!(detect(&Value::StringValue(broken), 1024), None);
        assert_eq!(detect(&Value::BytesValue(vec![0; 5000]), 1024), None);
    }

    #[test]
    fn nested_media_is_reduced_in_place() {
        use opentelemetry_proto::tonic::common::v1::ArrayValue;
        let b64 = STANDARD.encode(png(3000));
        let mut v = Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue {
                    value: Some(Value::StringValue("describe this frame".into())),
                },
                AnyValue {
                    value: Some(Value::StringValue(b64.clone())),
                },
            ],
        });
        assert_eq!(reduce_nested(&mut v, 1024), 1);
        let Value::ArrayValue(a) = v else {
            unreachable!()
        };
        let Some(Value::StringValue(s)) = &a.values[1].value else {
            panic!()
        };
        assert_eq!(
            s,
            &format!(
                "{};type=image/png;size={}",
                hash_value(b64.as_bytes()),
                b64.len()
            )
        );
        assert_eq!(
            a.values[0].value,
            Some(Value::StringValue("describe this frame".into()))
        );
    }
}
