//! Rendering of error locations: `server.listen`, `providers[1].keys[0].value`,
//! `providers[0].headers."x.odd"`.

/// `parent.key` (or `key` at the root); keys that are not bare TOML keys are quoted.
pub fn key_path(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(key_path("", "server"), "server");
        assert_eq!(key_path("server", "listen"), "server.listen");
        assert_eq!(key_path("p[0].headers", "x.odd"), "p[0].headers.\"x.odd\"");
        assert_eq!(index_path("providers", 2), "providers[2]");
    }

    #[test]
    fn line_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 3)); // after 'é' (2 bytes)
        assert_eq!(line_column(text, 8), (2, 2)); // inside 'é' rounds down
        assert_eq!(line_column(text, 999), (3, 1));
    }
}
