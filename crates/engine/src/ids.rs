//! Ids and names: 64 hex digits from the kernel's random source (docker's ids), and
//! `adjective_name` names when the user gives none.

use crate::error::{Error, Result};

/// A new random 64-hex-digit id.
pub fn new_id() -> String {
    let mut b = [0u8; 32];
    // SAFETY: getrandom writes at most `b.len()` bytes into the buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, b.len(), 0) };
    if n != b.len() as isize {
        // getrandom cannot fail for 32 bytes once the pool is initialised; be safe anyway.
        let t = strata_os::clock::now_nanos() as u64 ^ (std::process::id() as u64) << 32;
        for (i, x) in b.iter_mut().enumerate() {
            *x = (t.rotate_left(i as u32 * 7) >> (i % 8)) as u8;
        }
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The first 12 digits of an id, as listings show it.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "bold",
    "brave",
    "calm",
    "clever",
    "eager",
    "elegant",
    "fervent",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "kind",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "zealous",
];

const NAMES: &[&str] = &[
    "babbage", "bell", "curie", "dijkstra", "easley", "feynman", "goldberg", "hopper", "kalam",
    "knuth", "lamport", "liskov", "lovelace", "mccarthy", "noether", "popek", "ritchie", "shannon",
    "thompson", "torvalds", "turing", "wilson", "wozniak",
];

/// A random `adjective_name`.
pub fn random_name() -> String {
    let id = new_id();
    let a = usize::from_str_radix(&id[..4], 16).unwrap_or(0);
    let n = usize::from_str_radix(&id[4..8], 16).unwrap_or(0);
    format!(
        "{}_{}",
        ADJECTIVES[a % ADJECTIVES.len()],
        NAMES[n % NAMES.len()]
    )
}

/// Runs `insert` with the `given` name, or when none is given with random names until one
/// is free (about 900 names: a store of many containers draws taken ones, which docker
/// answers by drawing again, then with a digit appended). Only a given name's conflict is
/// the caller's.
pub fn with_free_name<T>(
    given: Option<&str>,
    mut insert: impl FnMut(&str) -> Result<T>,
) -> Result<T> {
    if let Some(n) = given {
        return insert(n);
    }
    let mut last = None;
    for attempt in 0..32 {
        let name = match attempt {
            0..8 => random_name(),
            _ => format!("{}{}", random_name(), attempt % 10),
        };
        match insert(&name) {
            Err(Error::Conflict(m)) => last = Some(m),
            r => return r,
        }
    }
    Err(Error::Conflict(last.unwrap_or_default()))
}

/// Checks a user-given name: docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 253 bytes.
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    let mut b = name.bytes();
    let first_ok = b.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok && name.len() <= 253 && b.all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
    {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid {kind} name {name:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        let a = new_id();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_id());
        assert_eq!(short(&a).len(), 12);
        assert!(random_name().contains('_'));
    }

    #[test]
    fn random_names_are_drawn_until_one_is_free() {
        let mut taken = 0;
        let name = with_free_name(None, |n| {
            if taken < 12 {
                taken += 1;
                return Err(Error::Conflict(format!("{n} taken")));
            }
            Ok(n.to_string())
        })
        .unwrap();
        assert!(
            name.contains('_') && name.ends_with(|c: char| c.is_ascii_digit()),
            "{name}"
        );
        // A given name is not replaced.
        let r: Result<()> = with_free_name(Some("mine"), |n| Err(Error::Conflict(n.into())));
        assert!(matches!(r, Err(Error::Conflict(m)) if m == "mine"));
        check_name("container", "web-1.a_b").unwrap();
        for bad in ["", "-x", "a/b", "a b", "..", &"x".repeat(300)] {
            assert!(check_name("container", bad).is_err(), "{bad}");
        }
    }
}
