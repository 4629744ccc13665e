//! Image references (`[registry[:port]/]path[:tag][@digest]`), enough to tell a stage name
//! from an image and a pinned image from an unpinned one.

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry host (and port), when the reference names one.
    pub domain: Option<String>,
    /// The repository path (`library/alpine` is written `alpine`).
    pub path: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest (`sha256:...`), if any.
    pub digest: Option<String>,
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let sep_start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    host_ok && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn valid_tag(t: &str) -> bool {
    let mut chars = t.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && t.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn valid_digest(d: &str) -> bool {
    let Some((algo, hex)) = d.split_once(':') else {
        return false;
    };
    !algo.is_empty()
        && algo
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
        && hex.len() >= 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
}

impl ImageRef {
    /// Parses a reference, or says why it is not one.
    pub fn parse(s: &str) -> Result<ImageRef, String> {
        let bad = |why: &str| format!("invalid reference format {s:?}: {why}");
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) if valid_digest(d) => (n, Some(d.to_string())),
            Some(_) => return Err(bad("bad digest")),
            None => (s, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let t = &name[last_slash + i + 1..];
                if !valid_tag(t) {
                    return Err(bad("bad tag"));
                }
                (&name[..last_slash + i], Some(t.to_string()))
            }
            None => (name, None),
        };
        let mut parts: Vec<&str> = name.split('/').collect();
        let domain = if parts.len() > 1
            && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
        {
            let d = parts.remove(0);
            if !valid_domain(d) {
                return Err(bad("bad registry host"));
            }
            Some(d.to_string())
        } else {
            None
        };
        if parts.iter().any(|p| !valid_component(p)) {
            return Err(bad(
                "repository names must be lowercase letters, digits and separators",
            ));
        }
        Ok(ImageRef {
            domain,
            path: parts.join("/"),
            tag,
            digest,
        })
    }

    /// True when the reference names one image for good: a digest.
    pub fn is_digest_pinned(&self) -> bool {
        self.digest.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = ImageRef::parse("alpine").unwrap();
        assert_eq!(
            (r.domain, r.path.as_str(), r.tag, r.digest),
            (None, "alpine", None, None)
        );
        let r = ImageRef::parse("localhost:5000/team/app:1.2-rc").unwrap();
        assert_eq!(r.domain.as_deref(), Some("localhost:5000"));
        assert_eq!(r.path, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.2-rc"));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("ghcr.io/o/r:v1@{d}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert!(r.is_digest_pinned());
        let r = ImageRef::parse("my_org/my-app__x").unwrap();
        assert_eq!(r.domain, None);
    }

    #[test]
    fn rejects_non_references() {
        for s in [
            "Builder",
            "a b",
            "app:",
            "a//b",
            "-x",
            "x@sha256:12",
            "a:b:c",
            "x.io:port/a",
            "",
        ] {
            assert!(ImageRef::parse(s).is_err(), "{s}");
        }
    }
}
