//! Writing a merged Parquet table: our rows in our order with the edits applied, then the new rows, every cell
//! taken from the file data of the side whose value it is (so types are exact: never rebuilt from display
//! text), with our file's column types and compression. The edits say what each cell shows; this finds the
//! side that holds that value.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::Schema;

use super::csv_writer::Edits;
use super::{Cell, bad, encode_key};
use crate::Result;
use crate::error::IoContext;

/// A Parquet file read whole: its rows in one batch, each row's key, and its compression.
struct Side {
    batch: RecordBatch,
    keys: Vec<Vec<u8>>,
    compression: Option<parquet::basic::Compression>,
}

impl Side {
    fn read(path: &Path, what: &str, key: &[String]) -> Result<Side> {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let unreadable =
            |e: &dyn std::fmt::Display| bad(what, format!("not a readable Parquet file: {e}"));
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).at(path)?)
            .map_err(|e| unreadable(&e))?;
        let compression = builder
            .metadata()
            .row_groups()
            .first()
            .and_then(|g| g.columns().first())
            .map(|c| c.compression());
        let schema = builder.schema().clone();
        let batches = builder
            .build()
            .map_err(|e| unreadable(&e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| unreadable(&e))?;
        let batch =
            arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| unreadable(&e))?;
        let key_cols = key
            .iter()
            .map(|k| {
                schema
                    .index_of(k)
                    .map_err(|_| bad(what, format!("key column {k:?} is not in the file")))
            })
            .collect::<Result<Vec<_>>>()?;
        let texts = key_cols
            .iter()
            .map(|&c| display(batch.column(c), what))
            .collect::<Result<Vec<_>>>()?;
        let keys = (0..batch.num_rows())
            .map(|row| encode_key(texts.iter().map(|t| t[row].as_deref())))
            .collect();
        Ok(Side {
            batch,
            keys,
            compression,
        })
    }

    /// The file's column names, in order.
    fn names(&self) -> Vec<String> {
        self.batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }
}

/// A column's cells as dv reads them from Parquet: as Arrow displays them, nulls NULL.
fn display(col: &ArrayRef, what: &str) -> Result<Vec<Cell>> {
    let f = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
        .map_err(|e| bad(what, e.to_string()))?;
    Ok((0..col.len())
        .map(|i| (!col.is_null(i)).then(|| f.value(i).to_string()))
        .collect())
}

/// Writes the merged table to `out`: `ours` with `edits` applied, cells not ours taken from `theirs`
/// (`what` names the table). A column takes our file's type unless `their_type` says theirs changed it (then
/// theirs); a value that does not convert to the column's type is an error, never a NULL. The file's key-value
/// metadata (pandas' among it) is ours, with theirs' keys ours lacks. Returns the rows written.
pub fn rewrite(
    ours: &Path,
    theirs: &Path,
    what: &str,
    edits: &Edits,
    their_type: &[bool],
    out: &Path,
) -> Result<u64> {
    let o = Side::read(ours, what, edits.key)?;
    let t = Side::read(theirs, what, edits.key)?;
    let their_row: HashMap<&[u8], usize> = t
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_slice(), i))
        .collect();
    // Per output column: the sources (ours, theirs, one NULL), cast to the output type, and their cells' text.
    let mut fields = Vec::new();
    let mut sources: Vec<[ArrayRef; 3]> = Vec::new();
    let mut texts: Vec<[Option<Vec<Cell>>; 2]> = Vec::new();
    let from = super::csv_writer::sources(&o.names(), edits, edits.from);
    let their_from = super::csv_writer::sources(&t.names(), edits, edits.their_from);
    for (i, name) in edits.columns.iter().enumerate() {
        let oc = from[i].map(|c| o.batch.column(c));
        let tc = their_from[i].map(|c| t.batch.column(c));
        let their_field = their_type.get(i) == Some(&true) || oc.is_none();
        let field = match (oc, tc) {
            (_, Some(_)) if their_field => Ok::<_, arrow_schema::ArrowError>(
                t.batch
                    .schema()
                    .field(their_from[i].expect("a source"))
                    .clone(),
            ),
            (Some(_), _) => Ok(o.batch.schema().field(from[i].expect("a source")).clone()),
            (None, _) => {
                return Err(bad(
                    what,
                    format!("merged column {name:?} is on neither side"),
                ));
            }
        }
        .map_err(|e| bad(what, e.to_string()))?
        .with_name(name)
        .with_nullable(true);
        let ty = field.data_type().clone();
        let options = arrow_cast::CastOptions {
            safe: false,
            ..Default::default()
        };
        let cast = |c: Option<&ArrayRef>| -> Result<ArrayRef> {
            match c {
                None => Ok(new_null_array(&ty, 1)),
                Some(c) if c.data_type() == &ty => Ok(c.clone()),
                Some(c) => arrow_cast::cast_with_options(c, &ty, &options).map_err(|e| {
                    bad(
                        what,
                        format!(
                            "column {name:?} holds values of type {} that do not convert to {ty}: {e}",
                            c.data_type()
                        ),
                    )
                }),
            }
        };
        texts.push([
            oc.map(|c| display(c, what)).transpose()?,
            tc.map(|c| display(c, what)).transpose()?,
        ]);
        sources.push([cast(oc)?, cast(tc)?, new_null_array(&ty, 1)]);
        fields.push(field);
    }
    // The source of each output cell: (0 ours | 1 theirs | 2 NULL, row).
    let mut picks: Vec<Vec<(usize, usize)>> = vec![Vec::new(); edits.columns.len()];
    let pick_row = |picks: &mut [Vec<(usize, usize)>],
                    cells: &[Cell],
                    ours_row: Option<usize>,
                    their: Option<usize>|
     -> Result<()> {
        for (c, cell) in cells.iter().enumerate() {
            let holds = |side: usize, row: Option<usize>| {
                row.filter(|&r| texts[c][side].as_ref().is_some_and(|t| t[r] == *cell))
            };
            let pick = if let Some(r) = holds(0, ours_row) {
                (0, r)
            } else if let Some(r) = holds(1, their) {
                (1, r)
            } else if cell.is_none() {
                (2, 0)
            } else {
                return Err(bad(
                    what,
                    format!(
                        "no side holds the merged value of column {:?}",
                        edits.columns[c]
                    ),
                ));
            };
            picks[c].push(pick);
        }
        Ok(())
    };
    let mut rows = 0u64;
    let mut edited = 0usize;
    for (i, k) in o.keys.iter().enumerate() {
        match edits.rows.get(k) {
            Some(None) => edited += 1,
            Some(Some(cells)) => {
                edited += 1;
                pick_row(
                    &mut picks,
                    cells,
                    Some(i),
                    their_row.get(k.as_slice()).copied(),
                )?;
                rows += 1;
            }
            None => {
                for (c, p) in picks.iter_mut().enumerate() {
                    p.push(if texts[c][0].is_some() {
                        (0, i)
                    } else {
                        (2, 0)
                    });
                }
                rows += 1;
            }
        }
    }
    if edited != edits.rows.len() {
        return Err(bad(what, "some of the rows to change are not in our file"));
    }
    let key_at: Vec<usize> = edits
        .key
        .iter()
        .filter_map(|k| edits.columns.iter().position(|c| c == k))
        .collect();
    for cells in edits.appended {
        let k = encode_key(key_at.iter().map(|&i| cells[i].as_deref()));
        pick_row(
            &mut picks,
            cells,
            None,
            their_row.get(k.as_slice()).copied(),
        )?;
        rows += 1;
    }
    let columns = sources
        .iter()
        .zip(&picks)
        .map(|(s, p)| {
            let s: Vec<&dyn Array> = s.iter().map(|a| a.as_ref()).collect();
            arrow_select::interleave::interleave(&s, p)
        })
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()
        .map_err(|e| bad(what, e.to_string()))?;
    let mut metadata: std::collections::BTreeMap<String, String> =
        o.batch.schema().metadata().clone().into();
    for (k, v) in t.batch.schema().metadata() {
        metadata.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let batch =
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| bad(what, e.to_string()))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(
            o.compression
                .or(t.compression)
                .unwrap_or(parquet::basic::Compression::SNAPPY),
        )
        .build();
    let file = File::create(out).at(out)?;
    let failed = |e: &dyn std::fmt::Display| crate::Error::Internal(format!("writing {what}: {e}"));
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| failed(&e))?;
    w.write(&batch).map_err(|e| failed(&e))?;
    w.close().map_err(|e| failed(&e))?;
    Ok(rows)
}
