//! Named parameters in mapping SQL (`WHERE cf = :tax_code`), rewritten to
//! each engine's positional placeholders. Values are always bound, never
//! spliced into the SQL text, so nothing a caller sends can change a query.

/// The placeholder style of a database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `?` (SQLite, MySQL/MariaDB).
    Question,
    /// `$1`, `$2`, ... (PostgreSQL).
    Dollar,
}

/// SQL with named parameters, split at each parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSql {
    /// The SQL as written.
    pub text: String,
    /// Literal SQL pieces; `pieces.len() == names.len() + 1`.
    pieces: Vec<String>,
    /// Parameter names in order of occurrence (repeats allowed).
    names: Vec<String>,
}

impl ParamSql {
    /// Splits `sql` at its `:name` parameters. Quoted strings, quoted
    /// identifiers, comments and PostgreSQL `::` casts are left alone.
    pub fn parse(sql: &str) -> Result<ParamSql, String> {
        if sql.trim().is_empty() {
            return Err("the query is empty".into());
        }
        let chars: Vec<char> = sql.chars().collect();
        let mut pieces = Vec::new();
        let mut names = Vec::new();
        let mut current = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '\'' | '"' | '`' => {
                    // Copy the quoted run, with doubled quotes as escapes.
                    current.push(c);
                    i += 1;
                    loop {
                        let Some(&d) = chars.get(i) else {
                            return Err(format!("unterminated {c} quote"));
                        };
                        current.push(d);
                        i += 1;
                        if d == c {
                            if chars.get(i) == Some(&c) {
                                current.push(c);
                                i += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
                '-' if chars.get(i + 1) == Some(&'-') => {
                    while i < chars.len() && chars[i] != '\n' {
                        current.push(chars[i]);
                        i += 1;
                    }
                }
                ':' if chars.get(i + 1) == Some(&':') => {
                    current.push_str("::");
                    i += 2;
                }
                ':' if chars
                    .get(i + 1)
                    .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_') =>
                {
                    let start = i + 1;
                    let mut end = start;
                    while end < chars.len()
                        && (chars[end].is_ascii_alphanumeric() || chars[end] == '_')
                    {
                        end += 1;
                    }
                    names.push(chars[start..end].iter().collect());
                    pieces.push(std::mem::take(&mut current));
                    i = end;
                }
                '?' => return Err("use named parameters (`:name`), not `?`".into()),
                _ => {
                    current.push(c);
                    i += 1;
                }
            }
        }
        pieces.push(current);
        Ok(ParamSql {
            text: sql.to_string(),
            pieces,
            names,
        })
    }

    /// Parameter names in order of occurrence, one per placeholder.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The SQL with engine placeholders.
    pub fn render(&self, style: Placeholder) -> String {
        let mut out = String::with_capacity(self.text.len());
        for (i, piece) in self.pieces.iter().enumerate() {
            out.push_str(piece);
            if i < self.names.len() {
                match style {
                    Placeholder::Question => out.push('?'),
                    Placeholder::Dollar => out.push_str(&format!("${}", i + 1)),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str, question: &str, dollar: &str, names: &[&str]) {
        let parsed = ParamSql::parse(sql);
        let Ok(parsed) = parsed else {
            panic!("{sql}: {parsed:?}")
        };
        assert_eq!(parsed.render(Placeholder::Question), question, "{sql}");
        assert_eq!(parsed.render(Placeholder::Dollar), dollar, "{sql}");
        assert_eq!(parsed.param_names().collect::<Vec<_>>(), names, "{sql}");
    }

    #[test]
    fn rewrite_table() {
        check(
            "SELECT a FROM t WHERE cf = :tax_code",
            "SELECT a FROM t WHERE cf = ?",
            "SELECT a FROM t WHERE cf = $1",
            &["tax_code"],
        );
        check(
            "SELECT ':no' AS x, a::text FROM t WHERE a = :x OR b = :x -- :nope\n AND c = :y",
            "SELECT ':no' AS x, a::text FROM t WHERE a = ? OR b = ? -- :nope\n AND c = ?",
            "SELECT ':no' AS x, a::text FROM t WHERE a = $1 OR b = $2 -- :nope\n AND c = $3",
            &["x", "x", "y"],
        );
        check(
            "SELECT 'it''s :here' FROM t",
            "SELECT 'it''s :here' FROM t",
            "SELECT 'it''s :here' FROM t",
            &[],
        );
        assert!(ParamSql::parse("SELECT 'open").is_err());
        assert!(ParamSql::parse("SELECT a FROM t WHERE b = ?").is_err());
        assert!(ParamSql::parse("  ").is_err());
    }
}
