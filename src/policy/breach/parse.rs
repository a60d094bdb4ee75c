//! Parsing one line of the HIBP "Pwned Passwords" SHA-1 format: `HEX40:COUNT`, upper or
//! lower hex, an optional CR before the LF.
//!
//! Pure: bytes in, a hash and a count (or the problem) out.

/// What is wrong with a line. Messages say what was expected, never echo the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("expected 40 hex digits, a colon and a count")]
    Shape,
    #[error(
        "expected 40 hex digits (SHA-1) but found 32: this looks like the NTLM edition of \
         Pwned Passwords; download the SHA-1 edition"
    )]
    Ntlm,
    #[error("the count after the colon must be a whole number")]
    Count,
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_hash(hex: &[u8]) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    if hex.len() != 40 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
    }
    Some(out)
}

/// Counts above u32::MAX saturate (none exist in HIBP; see the format notes).
fn decode_count(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    Some(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Parses a line with its line ending already removed (a trailing CR is tolerated here).
/// `Ok(None)` for an empty line.
pub fn parse_line(line: &[u8]) -> Result<Option<([u8; 20], u32)>, LineProblem> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Ok(None);
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(LineProblem::Shape);
    };
    let (hex, count) = (&line[..colon], &line[colon + 1..]);
    let Some(hash) = decode_hash(hex) else {
        let looks_ntlm = hex.len() == 32 && hex.iter().all(|b| hex_value(*b).is_some());
        return Err(if looks_ntlm {
            LineProblem::Ntlm
        } else {
            LineProblem::Shape
        });
    };
    let count = decode_count(count).ok_or(LineProblem::Count)?;
    Ok(Some((hash, count)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "000000005AD76BD555C1D6D771DE417A4B87E4B4";

    fn hash(hex: &str) -> [u8; 20] {
        decode_hash(hex.as_bytes()).unwrap()
    }

    fn check(input: &str, expected: Result<Option<([u8; 20], u32)>, LineProblem>) {
        assert_eq!(parse_line(input.as_bytes()), expected, "{input:?}");
    }

    #[test]
    fn parse_table() {
        check(&format!("{H}:4"), Ok(Some((hash(H), 4))));
        check(&format!("{H}:4\r"), Ok(Some((hash(H), 4))));
        check(&format!("{}:4", H.to_lowercase()), Ok(Some((hash(H), 4))));
        check(&format!("{H}:0"), Ok(Some((hash(H), 0))));
        check(&format!("{H}:99999999999999"), Ok(Some((hash(H), u32::MAX))));
        check("", Ok(None));
        check("\r", Ok(None));
        check(H, Err(LineProblem::Shape));
        check(&format!("{H}:"), Err(LineProblem::Count));
        check(&format!("{H}:-1"), Err(LineProblem::Count));
        check(&format!("{H}:4 "), Err(LineProblem::Count));
        check(&format!("{H}:1:2"), Err(LineProblem::Count));
        check(&format!("{}:4", &H[..39]), Err(LineProblem::Shape));
        check(&format!("{}G:4", &H[..39]), Err(LineProblem::Shape));
        check(&format!("{}:4", &H[..32]), Err(LineProblem::Ntlm));
        check(":4", Err(LineProblem::Shape));
        check("héllo:4", Err(LineProblem::Shape));
    }
}
