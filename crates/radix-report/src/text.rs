//! Escaping and number formatting shared by the HTML and SVG renderers.

/// Escapes text for HTML element content and (double- or single-quoted) attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An integer with thousands separators: `1,234,567`.
pub fn int(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A signed integer with thousands separators.
pub fn sint(v: i64) -> String {
    if v < 0 {
        format!("−{}", int(v.unsigned_abs()))
    } else {
        int(v.unsigned_abs())
    }
}

fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("∞")
    } else if v == f64::NEG_INFINITY {
        Some("−∞")
    } else {
        None
    }
}

/// A real number with about four significant digits, trailing zeros trimmed; exponent notation
/// for very small or very large magnitudes. Uses a real minus sign.
pub fn num(v: f64) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    let body = if !(1e-4..1e7).contains(&a) {
        let s = format!("{a:.3e}");
        // "1.230e-5" -> "1.23e-5"
        match s.split_once('e') {
            Some((mant, exp)) => format!("{}e{}", trim_zeros(mant), exp),
            None => s,
        }
    } else {
        let mag = a.log10().floor() as i32;
        let decimals = (3 - mag).clamp(0, 7) as usize;
        trim_zeros(&format!("{a:.decimals$}")).to_string()
    };
    if v < 0.0 { format!("−{body}") } else { body }
}

/// Fixed decimals (for values with a natural resolution, such as dB), real minus sign.
pub fn fixed(v: f64, decimals: usize) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    let s = format!("{:.decimals$}", v.abs());
    // Avoid "−0.0".
    if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("−{s}")
    } else {
        s
    }
}

/// An SNR in dB with one decimal; `∞` for a bit-exact layer.
pub fn db(v: f64) -> String {
    fixed(v, 1)
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// A plain decimal for SVG coordinates (no grouping, ASCII minus, two decimals at most).
pub fn coord(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let s = format!("{v:.2}");
    let t = trim_zeros(&s);
    if t == "-0" {
        "0".to_string()
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_all_specials() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(sint(-1234), "−1,234");
    }

    #[test]
    fn formats_reals() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(12.3456), "12.35");
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(1234.6), "1235");
        assert_eq!(num(-2.5), "−2.5");
        assert_eq!(num(0.00001234), "1.234e-5");
        assert_eq!(num(f64::INFINITY), "∞");
        assert_eq!(db(23.456), "23.5");
        assert_eq!(db(-0.01), "0.0");
        assert_eq!(db(-3.26), "−3.3");
        assert_eq!(coord(-0.001), "0");
        assert_eq!(coord(12.5), "12.5");
    }
}
