//! When a certificate expires: read from its DER (`notAfter`), exported as a gauge per config
//! key so an alert can fire before cert-manager's renewal is overdue, and logged when a
//! certificate in use has already expired.

use crate::telemetry::names;
use rustls::pki_types::CertificateDer;

/// One DER element: (tag, contents, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `notAfter` of a certificate, in seconds since the Unix epoch.
pub fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    let (0x30, cert, _) = tlv(cert.as_ref())? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r; // explicit version
    }
    for _ in 0..3 {
        rest = tlv(rest)?.2; // serial, signature algorithm, issuer
    }
    let (0x30, validity, _) = tlv(rest)? else {
        return None;
    };
    let (_, _, validity) = tlv(validity)?; // notBefore
    let (tag, time, _) = tlv(validity)?;
    parse_time(tag, std::str::from_utf8(time).ok()?)
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn parse_time(tag: u8, s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (year, s) = match tag {
        0x17 => {
            let yy: i64 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    if s.len() != 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| s[i..i + 2].parse::<i64>().unwrap_or(0);
    let (month, day, h, m, sec) = (n(0), n(2), n(4), n(6), n(8));
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Records when the leaf certificate now in use at `config` expires; warns if it already has.
pub fn observe(config: &str, leaf: &CertificateDer<'_>) {
    let Some(t) = not_after(leaf) else {
        return;
    };
    metrics::gauge!(names::TLS_CERTIFICATE_EXPIRY, "config" => config.to_string()).set(t as f64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if t <= now {
        tracing::warn!(
            config,
            expired_secs_ago = now - t,
            "the certificate in use has expired: peers that verify it will refuse the connection"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_to_unix_time() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(parse_time(0x17, "210101000000Z"), Some(1_609_459_200));
        assert_eq!(parse_time(0x18, "40960101000000Z"), Some(67_090_118_400));
        assert_eq!(parse_time(0x17, "991231235959Z"), Some(946_684_799));
        assert_eq!(parse_time(0x17, "2101010000Z"), None);
        assert_eq!(parse_time(0x05, "210101000000Z"), None);
    }

    #[test]
    fn reads_not_after_of_a_real_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(not_after(cert.der()), Some(1_609_459_200));
    }

    #[test]
    fn truncated_der_is_not_a_date() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x82, 0x01],
            &[0x30, 0x03, 0x30, 0x01, 0x02],
        ] {
            assert_eq!(not_after(&CertificateDer::from(bad.to_vec())), None);
        }
    }
}
