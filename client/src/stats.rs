//! Statistics answers (`Aggregate`) for people: a table in the terminal
//! (two dimensions as a cross table with its totals), CSV for a
//! spreadsheet, and the legend that says what was protected and how.

use std::collections::BTreeMap;

use trama_proto::stats::{ALL, NOT_RECORDED};
use trama_proto::v1::{self, CellStatus};

use crate::render::{Table, statuses};

/// Marks a suppressed count.
pub const SUPPRESSED: &str = "·";
/// Marks a count estimated from sketches (above the exact range).
const ESTIMATED: &str = "≈";

/// A published count as shown: the number, `·` when suppressed, `≈` in
/// front when estimated.
pub fn shown(count: u64, status: i32, estimated: bool) -> String {
    if CellStatus::try_from(status) != Ok(CellStatus::Perturbed) {
        return SUPPRESSED.into();
    }
    if estimated {
        format!("{ESTIMATED}{count}")
    } else {
        count.to_string()
    }
}

/// A dimension's value as shown: `total` for a margin, `(not recorded)`.
fn label(value: &str) -> String {
    match value {
        ALL => "total".into(),
        NOT_RECORDED => "(not recorded)".into(),
        v => v.into(),
    }
}

/// The whole answer for the terminal: the table, the overlaps, what each
/// partner contributed, the sources' outcomes and the legend.
pub fn render(resp: &v1::AggregateResponse) -> String {
    let mut out = if resp.group_by.len() == 2 {
        cross_table(resp)
    } else {
        long_table(resp)
    };
    out.push('\n');
    out.push_str(&overlaps(resp));
    out.push('\n');
    out.push_str(&statuses(&resp.outcomes, resp.partial));
    out.push_str(&legend(resp));
    out
}

/// A table of one or two dimensions laid out as rows and columns (one
/// dimension: a single `*` column), the totals last, each count as shown.
#[derive(Debug, Clone, Default)]
pub struct CrossTable {
    /// The rows' values, in the answer's order (the vocabulary's, the
    /// declared places', the periods'), `*` (the total) last.
    pub rows: Vec<String>,
    /// The columns' values, in the answer's order, `*` last.
    pub columns: Vec<String>,
    shown: BTreeMap<(String, String), String>,
}

impl CrossTable {
    /// The cells of `resp` by their first value (rows) and second value
    /// (columns; `*` when the table has one dimension).
    pub fn of(resp: &v1::AggregateResponse) -> CrossTable {
        let mut t = CrossTable::default();
        for c in &resp.cells {
            let r = c.values.first().map_or(ALL, String::as_str);
            let k = c.values.get(1).map_or(ALL, String::as_str);
            for (list, v) in [(&mut t.rows, r), (&mut t.columns, k)] {
                if v != ALL && !list.iter().any(|x| x == v) {
                    list.push(v.to_string());
                }
            }
            t.shown.insert(
                (r.to_string(), k.to_string()),
                shown(c.count, c.status, c.estimated),
            );
        }
        for list in [&mut t.rows, &mut t.columns] {
            list.push(ALL.into());
        }
        t
    }

    /// The count shown at row `r` and column `k` (`·` when there is none).
    pub fn at(&self, r: &str, k: &str) -> String {
        self.shown
            .get(&(r.to_string(), k.to_string()))
            .cloned()
            .unwrap_or_else(|| SUPPRESSED.into())
    }
}

/// Two dimensions: rows by the first, columns by the second, with totals.
fn cross_table(resp: &v1::AggregateResponse) -> String {
    let t = CrossTable::of(resp);
    let mut header = vec![format!("{} \\ {}", resp.group_by[0], resp.group_by[1])];
    header.extend(t.columns.iter().map(|c| label(c)));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = Table::new(&header);
    for r in &t.rows {
        let mut line = vec![label(r)];
        line.extend(t.columns.iter().map(|k| t.at(r, k)));
        out.row(line);
    }
    out.render()
}

/// Any other number of dimensions: one line per cell, margins after.
fn long_table(resp: &v1::AggregateResponse) -> String {
    let mut header: Vec<&str> = resp.group_by.iter().map(String::as_str).collect();
    header.push("people");
    let mut t = Table::new(&header);
    for c in &resp.cells {
        let mut line: Vec<String> = c.values.iter().map(|v| label(v)).collect();
        line.push(shown(c.count, c.status, c.estimated));
        t.row(line);
    }
    t.render()
}

/// People known to two partners, and to two or more.
fn overlaps(resp: &v1::AggregateResponse) -> String {
    let mut t = Table::new(&["known to", "and to", "people"]);
    for o in &resp.overlaps {
        let (first, second) = if o.first == ALL {
            ("two or more partners".to_string(), String::new())
        } else {
            (o.first.clone(), o.second.clone())
        };
        t.row(vec![first, second, shown(o.count, o.status, false)]);
    }
    let mut c = Table::new(&[
        "partner",
        "people without a tax code (counted there, not de-duplicated)",
    ]);
    for x in &resp.contributions {
        c.row(vec![
            x.organisation.clone(),
            shown(x.without_tax_code, x.status, false),
        ]);
    }
    format!("{}\n{}", t.render(), c.render())
}

/// What was applied, in words.
pub fn legend(resp: &v1::AggregateResponse) -> String {
    let Some(p) = &resp.protection else {
        return String::new();
    };
    format!(
        "Distinct people, each counted once across partners, as of {}; ages on the date of each fact.\n\
         Every count, total and overlap is perturbed: {} with noise of at most ±{} \
         (variance {}, table {}), the same people always giving the same value.\n\
         {SUPPRESSED} suppressed: fewer than {} people (none included), before or after the noise. \
         {ESTIMATED} estimated from sketches (above {} people, relative error about {:.1}%).\n",
        resp.as_of,
        p.method,
        p.max_noise,
        p.variance,
        p.table_digest,
        p.threshold,
        p.exact_up_to,
        p.relative_error * 100.0
    )
}

/// The table as CSV for a spreadsheet: one row per cell and margin (`total`
/// for a margin's value), with the count (empty when suppressed), its
/// status and whether it was estimated.
pub fn csv(resp: &v1::AggregateResponse) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = resp.group_by.iter().map(String::as_str).collect();
    header.extend(["people", "status", "estimated"]);
    w.write_record(&header).map_err(|e| e.to_string())?;
    for c in &resp.cells {
        let mut row: Vec<String> = c.values.iter().map(|v| label(v)).collect();
        let perturbed = CellStatus::try_from(c.status) == Ok(CellStatus::Perturbed);
        row.push(if perturbed {
            c.count.to_string()
        } else {
            String::new()
        });
        row.push(if perturbed { "perturbed" } else { "suppressed" }.into());
        row.push(c.estimated.to_string());
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}
