//! What counts as empty in a field a person typed: whitespace alone, or
//! characters that show nothing (zero-width spaces and joiners, direction
//! marks, soft hyphens, byte-order marks, tag characters, fillers). A case
//! id made of one zero-width space is as empty as no case id at all, and a
//! rule that requires a case id must not be satisfied by it.

/// Whether `c` shows nothing when printed: whitespace, a control character,
/// or a Unicode format or filler character.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'                     // soft hyphen
                | '\u{034F}'               // combining grapheme joiner
                | '\u{061C}'               // Arabic letter mark
                | '\u{115F}' | '\u{1160}'  // Hangul fillers
                | '\u{17B4}' | '\u{17B5}'  // Khmer inherent vowels
                | '\u{180B}'..='\u{180F}'  // Mongolian selectors and vowel separator
                | '\u{200B}'..='\u{200F}'  // zero-width space, joiners, direction marks
                | '\u{202A}'..='\u{202E}'  // bidirectional embeddings
                | '\u{2060}'..='\u{206F}'  // word joiner, invisible operators, isolates
                | '\u{3164}'               // Hangul filler
                | '\u{FE00}'..='\u{FE0F}'  // variation selectors
                | '\u{FEFF}'               // byte-order mark
                | '\u{FFA0}'               // halfwidth Hangul filler
                | '\u{FFF0}'..='\u{FFF8}'  // unassigned specials
                | '\u{1D173}'..='\u{1D17A}' // musical format characters
                | '\u{E0000}'..='\u{E0FFF}' // tags and variation selectors supplement
        )
}

/// Whether `text` is empty once whitespace and invisible characters are
/// removed.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_invisible)
}

/// `text` without whitespace or invisible characters at either end.
pub fn trim(text: &str) -> &str {
    text.trim_matches(is_invisible)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, blank: bool, trimmed: &str) {
        assert_eq!(is_blank(text), blank, "{text:?}");
        assert_eq!(trim(text), trimmed, "{text:?}");
    }

    #[test]
    fn blank_and_trimmed() {
        check("", true, "");
        check("   ", true, "");
        check("\u{200B}", true, "");
        check(" \u{FEFF}\u{200D}\t", true, "");
        check("\u{E0041}\u{2063}", true, "");
        check("\u{00AD}", true, "");
        check("CS-1", false, "CS-1");
        check("\u{200B}CS-1\u{200E} ", false, "CS-1");
        // Invisible characters inside a value are part of it.
        check("CS\u{200B}1", false, "CS\u{200B}1");
        check("Niccolò", false, "Niccolò");
    }
}
