//! Archive entry names: cleaned into components under the layer's root, as bytes.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Lexically cleans an archive name into components under the root: leading `/`, `.`
/// and empty components are dropped, `..` pops (never above the root).
pub fn clean_components(name: &[u8]) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(OsString::from_vec(c.to_vec())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn comps(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean_components(b"/etc/passwd"), comps(&["etc", "passwd"]));
        assert_eq!(clean_components(b"../../etc/./x"), comps(&["etc", "x"]));
        assert_eq!(clean_components(b"a/../../b"), comps(&["b"]));
        assert!(clean_components(b"./").is_empty());
        // Bytes stay bytes: a name that is not UTF-8 is kept exactly.
        let c = clean_components(b"d\xff/f\xfe");
        assert_eq!(c[1].as_bytes(), b"f\xfe");
    }
}
