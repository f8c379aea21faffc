//! WIT's kebab-case names in the cases other languages use.

/// `per-page` → `perPage`.
pub fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.trim_start_matches('%').chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `key-page` → `KeyPage`.
pub fn pascal(name: &str) -> String {
    let camel = camel(name);
    let mut chars = camel.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cases() {
        assert_eq!(super::camel("per-page"), "perPage");
        assert_eq!(super::camel("%record"), "record");
        assert_eq!(super::pascal("key-page"), "KeyPage");
        assert_eq!(super::pascal("get-one"), "GetOne");
    }
}
