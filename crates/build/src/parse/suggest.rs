//! "Did you mean" suggestions for unknown instruction keywords.

/// Every instruction keyword, upper case.
pub(crate) const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The keyword closest to `word` (upper-cased), if it is close enough to be a typo.
pub(crate) fn suggest(word: &str) -> Option<&'static str> {
    let upper = word.to_ascii_uppercase();
    let limit = if upper.chars().count() <= 3 { 1 } else { 2 };
    KEYWORDS
        .iter()
        .map(|k| (distance(&upper, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos() {
        assert_eq!(suggest("FORM"), Some("FROM"));
        assert_eq!(suggest("form"), Some("FROM"));
        assert_eq!(suggest("RUNN"), Some("RUN"));
        assert_eq!(suggest("COPPY"), Some("COPY"));
        assert_eq!(suggest("WORKIDR"), Some("WORKDIR"));
        assert_eq!(suggest("ENTRYPIONT"), Some("ENTRYPOINT"));
        assert_eq!(suggest("XYZZY"), None);
        assert_eq!(suggest("apt-get"), None);
    }
}
