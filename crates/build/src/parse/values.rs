//! Typed values inside instructions: exposed ports and Go-style durations.

use std::time::Duration;

/// A transport protocol of an exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// One EXPOSE entry: a port or a range, and a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExposedPort {
    /// First port of the range.
    pub start: u16,
    /// Last port of the range (equal to `start` for one port).
    pub end: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl ExposedPort {
    /// Parses `80`, `80/tcp`, `53/udp`, `8000-8010/tcp` (an expanded EXPOSE word).
    pub fn parse(word: &str) -> Result<ExposedPort, String> {
        let (ports, proto) = word.split_once('/').unwrap_or((word, "tcp"));
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "sctp" => Protocol::Sctp,
            p => return Err(format!("invalid protocol {p:?} in {word:?}")),
        };
        let port = |s: &str| {
            s.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("invalid port {s:?} in {word:?}"))
        };
        let (start, end) = match ports.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(ports)?, port(ports)?),
        };
        if end < start {
            return Err(format!("invalid port range {ports:?}"));
        }
        Ok(ExposedPort {
            start,
            end,
            protocol,
        })
    }
}

/// Parses a Go duration (`30s`, `1m30s`, `1.5h`, `500ms`, `0`), as HEALTHCHECK takes them.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let err = || format!("invalid duration {text:?}");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        total += value * nanos;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        let p = ExposedPort::parse("80").unwrap();
        assert_eq!((p.start, p.end, p.protocol), (80, 80, Protocol::Tcp));
        let p = ExposedPort::parse("53/udp").unwrap();
        assert_eq!(p.protocol, Protocol::Udp);
        let p = ExposedPort::parse("8000-8010/TCP").unwrap();
        assert_eq!((p.start, p.end), (8000, 8010));
        assert!(ExposedPort::parse("80/icmp").is_err());
        assert!(ExposedPort::parse("http").is_err());
        assert!(ExposedPort::parse("90-80").is_err());
        assert!(ExposedPort::parse("70000").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("30").unwrap_err().contains("missing unit"));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("").is_err());
    }
}
