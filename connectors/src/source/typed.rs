//! Reading results whose columns are typed (PostgreSQL, MySQL/MariaDB):
//! each column's decoder is chosen once from its type, then applied to
//! every row. SQLite types values, not columns, and reads its own way.

use sqlx::types::Decimal;
use sqlx::types::time::{Date, OffsetDateTime, PrimitiveDateTime};
use sqlx::{Column, Row, Type};

use super::{Rows, Value};

/// How a column's values are decoded, decided once per result.
#[derive(Debug, Clone, Copy)]
pub(super) enum Decode {
    I16,
    I32,
    I64,
    U64,
    F32,
    F64,
    Decimal,
    Bool,
    Date,
    DateTime,
    DateTimeTz,
    Text,
    Bytes,
}

/// Reads one value with the column's decoder; a value that does not decode
/// becomes NULL (reported by the field conversion, never with its content).
pub(super) fn read<'r, R>(row: &'r R, i: usize, decode: Decode) -> Value
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    i16: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    i32: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    f32: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Decimal: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Date: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    PrimitiveDateTime: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    OffsetDateTime: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + Type<R::Database>,
{
    fn get<'r, R, T>(row: &'r R, i: usize) -> Option<T>
    where
        R: Row,
        usize: sqlx::ColumnIndex<R>,
        T: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    {
        row.try_get::<Option<T>, _>(i).ok().flatten()
    }
    let v = match decode {
        Decode::I16 => get::<R, i16>(row, i).map(|v| Value::Int(i64::from(v))),
        Decode::I32 => get::<R, i32>(row, i).map(|v| Value::Int(i64::from(v))),
        Decode::I64 => get::<R, i64>(row, i).map(Value::Int),
        // Read by the engine that has unsigned columns (MySQL).
        Decode::U64 => None,
        Decode::F32 => get::<R, f32>(row, i).map(Value::float32),
        Decode::F64 => get::<R, f64>(row, i).map(Value::float),
        Decode::Decimal => get::<R, Decimal>(row, i).map(Value::Decimal),
        Decode::Bool => get::<R, bool>(row, i).map(Value::Bool),
        Decode::Date => get::<R, Date>(row, i).map(Value::Date),
        Decode::DateTime => get::<R, PrimitiveDateTime>(row, i)
            .map(|t| Value::Timestamp(t.assume_utc().unix_timestamp())),
        Decode::DateTimeTz => {
            get::<R, OffsetDateTime>(row, i).map(|t| Value::Timestamp(t.unix_timestamp()))
        }
        Decode::Text => get::<R, String>(row, i).map(Value::Text),
        Decode::Bytes => {
            get::<R, Vec<u8>>(row, i).map(|b| Value::Text(String::from_utf8_lossy(&b).into_owned()))
        }
    };
    v.unwrap_or(Value::Null)
}

/// Reads a result whose columns are typed: each column's decoder is chosen
/// once, from the first row's column types, then applied to every row.
pub(super) fn rows<R: Row>(
    rows: &[R],
    decoder: impl Fn(&<R::Database as sqlx::Database>::TypeInfo) -> Decode,
    read_value: impl Fn(&R, usize, Decode) -> Value,
) -> Rows {
    let Some(first) = rows.first() else {
        return Rows::default();
    };
    let columns = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let decoders: Vec<Decode> = first
        .columns()
        .iter()
        .map(|c| decoder(c.type_info()))
        .collect();
    let rows = rows
        .iter()
        .map(|row| {
            decoders
                .iter()
                .enumerate()
                .map(|(i, d)| read_value(row, i, *d))
                .collect()
        })
        .collect();
    Rows { columns, rows }
}

/// The result columns of a prepared statement, as the engine names and
/// types them.
pub(super) fn columns_of<C: Column>(columns: &[C]) -> Vec<super::ColumnInfo> {
    use sqlx::TypeInfo;
    columns
        .iter()
        .map(|c| super::ColumnInfo {
            name: c.name().to_string(),
            type_name: c.type_info().name().to_ascii_uppercase(),
        })
        .collect()
}
