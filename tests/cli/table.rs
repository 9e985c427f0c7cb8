//! Tables: row-level diffs, logs and shows of CSV and Parquet files, checked against references the tests
//! compute themselves from the rows they wrote.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common::*;

/// A table in memory: header and rows of cells (None = NULL).
#[derive(Clone)]
struct T {
    cols: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

impl T {
    fn new(cols: &[&str]) -> T {
        T {
            cols: cols.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(mut self, cells: &[&str]) -> T {
        self.rows.push(
            cells
                .iter()
                .map(|c| {
                    if *c == "NULL" {
                        None
                    } else {
                        Some(c.to_string())
                    }
                })
                .collect(),
        );
        self
    }

    fn csv(&self) -> Vec<u8> {
        let mut out = self.cols.join(",");
        out.push('\n');
        for r in &self.rows {
            let cells: Vec<String> = r
                .iter()
                .map(|c| match c {
                    None => String::new(),
                    Some(s) if s.contains(',') || s.contains('"') => {
                        format!("\"{}\"", s.replace('"', "\"\""))
                    }
                    Some(s) => s.clone(),
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out.into_bytes()
    }

    /// Parquet with every column a nullable string, except the ones named in `ints` (Int64).
    fn parquet(&self, ints: &[&str]) -> Vec<u8> {
        use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
        use arrow_schema::{DataType, Field, Schema};
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (i, c) in self.cols.iter().enumerate() {
            let values = self.rows.iter().map(|r| r[i].clone());
            if ints.contains(&c.as_str()) {
                fields.push(Field::new(c, DataType::Int64, true));
                let v: Int64Array = values
                    .map(|v| v.map(|s| s.parse::<i64>().unwrap()))
                    .collect();
                arrays.push(Arc::new(v));
            } else {
                fields.push(Field::new(c, DataType::Utf8, true));
                let v: StringArray = values.collect();
                arrays.push(Arc::new(v));
            }
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        out
    }
}

fn commit(r: &TestRepo, msg: &str) {
    r.git(&["commit", "-q", "-m", msg]);
}

/// The table part of `dv diff --json` for one path.
fn table_diff(r: &TestRepo, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["diff"];
    a.extend_from_slice(args);
    let v = r.json(&a);
    v[0]["table"].clone()
}

/// (change, key) pairs of a diff's rows, sorted.
fn changes(t: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key: Vec<String> = r["key"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap_or("NULL").to_string())
                .collect();
            (r["change"].as_str().unwrap().to_string(), key.join(","))
        })
        .collect();
    out.sort();
    out
}

/// A seeded table of `n` rows: id, name, score (float text), day.
fn people(n: usize, seed: u64) -> T {
    let mut t = T::new(&["id", "name", "score", "day"]);
    let b = bytes(seed, n * 4);
    for i in 0..n {
        let id = (i + 1).to_string();
        let name = format!("person{}", b[i * 4]);
        let score = format!("{}.{}", b[i * 4 + 1], b[i * 4 + 2] % 10);
        let day = format!("2024-{:02}-{:02}", 1 + b[i * 4 + 3] % 12, 1 + i % 28);
        t = t.row(&[&id, &name, &score, &day]);
    }
    t
}

#[test]
fn keyed_diff_matches_the_edits_exactly() {
    let r = TestRepo::new();
    let v1 = people(3000, 1);
    r.write("t/people.csv", &v1.csv());
    let added = r.json(&["add", "t/people.csv", "--key", "id"]);
    assert_eq!(added["datasets"][0]["table"]["rows"], 3000);
    assert!(
        String::from_utf8(r.read("t/people.csv.dv"))
            .unwrap()
            .contains("[table]\n")
    );
    commit(&r, "v1");

    // The edit script, and the reference it implies.
    let mut v2 = v1.clone();
    let mut expect: BTreeMap<String, &str> = BTreeMap::new();
    for i in (5..3000).step_by(97) {
        v2.rows[i][2] = Some("99.9".into());
        expect.insert((i + 1).to_string(), "modified");
    }
    let deleted: Vec<usize> = (10..3000)
        .step_by(211)
        .filter(|i| !expect.contains_key(&(i + 1).to_string()))
        .collect();
    for &i in deleted.iter().rev() {
        expect.insert(v2.rows[i][0].clone().unwrap(), "deleted");
        v2.rows.remove(i);
    }
    for k in 0..40 {
        let id = (5000 + k).to_string();
        v2 = v2.row(&[&id, "new", "1.0", "2025-01-01"]);
        expect.insert(id, "added");
    }
    r.write("t/people.csv", &v2.csv());
    let added = r.json(&["add", "t/people.csv"]);
    let counts = &added["datasets"][0]["table"]["changes"];
    let n = |c: &str| expect.values().filter(|v| **v == c).count() as u64;
    assert_eq!(counts["rows_modified"].as_u64(), Some(n("modified")));
    assert_eq!(counts["rows_deleted"].as_u64(), Some(n("deleted")));
    assert_eq!(counts["rows_added"].as_u64(), Some(n("added")));
    commit(&r, "v2");

    let t = table_diff(&r, &["HEAD~1", "HEAD", "t/people.csv"]);
    assert_eq!(t["rows_before"], 3000);
    assert_eq!(t["rows_after"], 3000 - deleted.len() as u64 + 40);
    let mut want: Vec<(String, String)> = expect
        .iter()
        .map(|(k, c)| (c.to_string(), k.clone()))
        .collect();
    want.sort();
    assert_eq!(changes(&t), want);
    // A modified row names its changed cell with old and new values.
    let m = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"][0] == "6")
        .unwrap();
    assert_eq!(m["cells"][0]["column"], "score");
    assert_eq!(m["cells"][0]["new"], "99.9");
    assert_eq!(m["cells"][0]["old"].as_str(), v1.rows[5][2].as_deref());
    // Deleted and added rows come whole.
    let a = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"][0] == "5000")
        .unwrap();
    assert_eq!(
        a["row"],
        serde_json::json!([
            ["id", "5000"],
            ["name", "new"],
            ["score", "1.0"],
            ["day", "2025-01-01"]
        ])
    );

    // --stat: counts only; --limit: counts stay complete; --where and --columns narrow.
    let s = table_diff(&r, &["HEAD~1", "HEAD", "t/people.csv", "--stat"]);
    assert_eq!(s["rows_modified"], t["rows_modified"]);
    assert_eq!(s["rows"].as_array().unwrap().len(), 0);
    let l = table_diff(&r, &["HEAD~1", "HEAD", "t/people.csv", "--limit", "3"]);
    assert_eq!(l["rows"].as_array().unwrap().len(), 3);
    assert_eq!(l["truncated"], true);
    assert_eq!(l["rows_added"], t["rows_added"]);
    let w = table_diff(
        &r,
        &["HEAD~1", "HEAD", "t/people.csv", "--where", "id>=5000"],
    );
    assert_eq!(changes(&w).len(), 40);
    let c = table_diff(&r, &["HEAD~1", "HEAD", "t/people.csv", "--columns", "name"]);
    assert_eq!(c["rows_modified"], 0, "only score changed in modified rows");
    // Identical versions: nothing.
    let same = table_diff(&r, &["HEAD", "HEAD", "t/people.csv"]);
    assert_eq!(same["rows"].as_array().unwrap().len(), 0);
    assert_eq!(same["rows_modified"], 0);

    // Text and CSV output.
    let text = r.ok(&["diff", "HEAD~1", "HEAD", "t/people.csv"]);
    assert!(
        text.contains(&format!(
            "    rows: 40 added, {} deleted, {} modified",
            n("deleted"),
            n("modified")
        )),
        "{text}"
    );
    assert!(text.contains("    ~ id=6  score: "), "{text}");
    let csv = r.ok(&["diff", "HEAD~1", "HEAD", "t/people.csv", "--format", "csv"]);
    assert!(csv.starts_with("change,id,column,old,new\n"), "{csv}");
    assert!(csv.contains("\nadded,5000,,,\n"), "{csv}");

    // log: row counts per version, and one row's history.
    let log = r.json(&["log", "t/people.csv"]);
    let versions = log[0]["versions"].as_array().unwrap();
    assert_eq!(versions[0]["table"]["rows_added"], 40);
    assert_eq!(versions[1]["table"]["rows"], 3000);
    let hist = r.json(&["log", "t/people.csv", "--row", "6"]);
    let hv = hist[0]["versions"].as_array().unwrap();
    assert_eq!(hv.len(), 2);
    assert_eq!(hv[0]["row"]["change"], "modified");
    assert_eq!(hv[0]["row"]["cells"][0]["new"], "99.9");
    assert_eq!(hv[1]["row"]["change"], "added");

    // show: rows of an old version without checking it out.
    let shown = r.json(&[
        "show",
        "t/people.csv",
        "--rev",
        "HEAD~1",
        "--where",
        "id<=3",
    ]);
    assert_eq!(shown.as_array().unwrap().len(), 3);
    assert_eq!(shown[2]["name"].as_str(), v1.rows[2][1].as_deref());
    let limited = r.json(&["show", "t/people.csv", "--limit", "2"]);
    assert_eq!(limited.as_array().unwrap().len(), 2);
    assert_eq!(limited[0]["id"], "1", "key order, numbers as numbers");
}

#[test]
fn composite_and_keyless_tables() {
    let r = TestRepo::new();
    let v1 = T::new(&["region", "id", "v"])
        .row(&["eu", "1", "a"])
        .row(&["us", "1", "b"])
        .row(&["eu", "2", "c"]);
    r.write("c.csv", &v1.csv());
    r.ok(&["add", "c.csv", "--key", "region,id"]);
    r.write("k.csv", &v1.csv());
    r.ok(&["add", "k.csv", "--table"]);
    commit(&r, "v1");
    let v2 = T::new(&["region", "id", "v"])
        .row(&["eu", "1", "a"])
        .row(&["us", "1", "B"])
        .row(&["us", "2", "d"]);
    r.write("c.csv", &v2.csv());
    r.write("k.csv", &v2.csv());
    r.ok(&["add", "c.csv", "k.csv"]);
    let t = table_diff(&r, &["c.csv"]);
    assert_eq!(
        changes(&t),
        vec![
            ("added".into(), "us,2".into()),
            ("deleted".into(), "eu,2".into()),
            ("modified".into(), "us,1".into())
        ]
    );
    // Keyless: a changed row is a deletion and an addition.
    let k = table_diff(&r, &["k.csv"]);
    assert_eq!(
        (
            k["rows_added"].as_u64(),
            k["rows_deleted"].as_u64(),
            k["rows_modified"].as_u64()
        ),
        (Some(2), Some(2), Some(0))
    );
    // The key is remembered: a later add keeps it.
    assert!(
        String::from_utf8(r.read("c.csv.dv"))
            .unwrap()
            .contains("key = [\"region\", \"id\"]")
    );
    let err = r.fails(&["log", "c.csv", "--row", "eu"]);
    assert!(err.contains("give that many values"), "{err}");
}

#[test]
fn schema_changes_are_reported_and_do_not_mark_every_row() {
    let r = TestRepo::new();
    let v1 = T::new(&["id", "a", "b", "c"])
        .row(&["1", "x", "10", "p"])
        .row(&["2", "y", "20", "q"]);
    r.write("s.csv", &v1.csv());
    r.ok(&["add", "s.csv", "--key", "id"]);
    commit(&r, "v1");
    // Reordered columns only: the same rows.
    let reordered = T::new(&["id", "c", "a", "b"])
        .row(&["1", "p", "x", "10"])
        .row(&["2", "q", "y", "20"]);
    r.write("s.csv", &reordered.csv());
    r.ok(&["add", "s.csv"]);
    let t = table_diff(&r, &["s.csv"]);
    assert_eq!(t["rows_modified"], 0);
    assert!(
        t["schema_changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["change"] == "reordered"),
        "{t}"
    );
    assert!(!t["schema_changes"].as_array().unwrap().is_empty());
    // Added, dropped (c), renamed (a -> alpha), type changed (b: int -> string), and one real cell change.
    let v3 = T::new(&["id", "alpha", "b", "d"])
        .row(&["1", "x", "ten", "new"])
        .row(&["2", "y", "20", "new"]);
    r.write("s.csv", &v3.csv());
    r.ok(&["add", "s.csv"]);
    let t = table_diff(&r, &["s.csv"]);
    let sc: Vec<(String, String)> = t["schema_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["change"].as_str().unwrap().to_string(),
                s["column"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(sc.contains(&("renamed".into(), "alpha".into())), "{sc:?}");
    assert!(sc.contains(&("type_changed".into(), "b".into())), "{sc:?}");
    // c dropped and d added at the same position with the same type read as a rename too.
    assert!(
        sc.contains(&("renamed".into(), "d".into()))
            || (sc.contains(&("dropped".into(), "c".into()))
                && sc.contains(&("added".into(), "d".into()))),
        "{sc:?}"
    );
    assert_eq!(
        t["rows_modified"], 2,
        "row 1: b changed; row 2: d differs from c"
    );
    let row1 = &t["rows"][0];
    assert!(
        row1["cells"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["column"] == "b" && c["old"] == "10" && c["new"] == "ten"),
        "{row1}"
    );
}

#[test]
fn nulls_floats_and_formats() {
    let r = TestRepo::new();
    let v1 = T::new(&["id", "name", "x"])
        .row(&["1", "", "0.1"])
        .row(&["2", "NULL", "2.5"])
        .row(&["3", "c", "3.0"]);
    let v2 = T::new(&["id", "name", "x"])
        .row(&["1", "NULL", "0.10000001"])
        .row(&["2", "", "2.5"])
        .row(&["3", "c", "3.0"]);
    // Parquet keeps NULL and "" apart.
    r.write("p.parquet", &v1.parquet(&["id"]));
    r.write("c.csv", &v1.csv());
    r.ok(&["add", "p.parquet", "c.csv", "--key", "id"]);
    commit(&r, "v1");
    r.write("p.parquet", &v2.parquet(&["id"]));
    r.write("c.csv", &v2.csv());
    r.ok(&["add", "p.parquet", "c.csv"]);
    let p = table_diff(&r, &["p.parquet"]);
    let cells =
        |t: &serde_json::Value, key: &str| -> Vec<(String, serde_json::Value, serde_json::Value)> {
            t["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["key"][0] == key)
                .flat_map(|r| r["cells"].as_array().unwrap().clone())
                .map(|c| {
                    (
                        c["column"].as_str().unwrap().to_string(),
                        c["old"].clone(),
                        c["new"].clone(),
                    )
                })
                .collect()
        };
    assert_eq!(
        cells(&p, "2"),
        vec![(
            "name".to_string(),
            serde_json::Value::Null,
            serde_json::json!("")
        )]
    );
    assert_eq!(
        cells(&p, "1"),
        vec![
            (
                "name".to_string(),
                serde_json::json!(""),
                serde_json::Value::Null
            ),
            (
                "x".to_string(),
                serde_json::json!("0.1"),
                serde_json::json!("0.10000001")
            )
        ]
    );
    // Floats compare exactly unless a tolerance is given.
    let tol = table_diff(&r, &["p.parquet", "--tolerance", "0.001", "--columns", "x"]);
    assert_eq!(tol["rows_modified"], 0);
    // The CSV version of the same table gives the same diff, but for NULL vs "" (both are an empty field).
    let c = table_diff(&r, &["c.csv"]);
    assert_eq!(
        cells(&c, "1"),
        vec![(
            "x".to_string(),
            serde_json::json!("0.1"),
            serde_json::json!("0.10000001")
        )]
    );
    assert_eq!(cells(&c, "2"), vec![]);
    let pc: Vec<_> = cells(&p, "1").into_iter().filter(|c| c.0 == "x").collect();
    assert_eq!(pc, cells(&c, "1"));
    // Parquet columns keep their types.
    let shown = r.ok(&["show", "p.parquet"]);
    assert!(
        shown.starts_with("id  name  x\n1   NULL  0.10000001\n"),
        "{shown}"
    );
}

#[test]
fn csv_and_parquet_versions_of_a_table_diff_identically() {
    let r = TestRepo::new();
    let v1 = people(500, 5);
    let mut v2 = v1.clone();
    v2.rows[3][1] = Some("renamed".into());
    v2.rows.remove(100);
    let v2 = v2.row(&["9999", "z", "1.5", "2024-02-02"]);
    r.write("a.csv", &v1.csv());
    r.write("a.parquet", &v1.parquet(&["id"]));
    r.ok(&["add", "a.csv", "a.parquet", "--key", "id"]);
    commit(&r, "v1");
    r.write("a.csv", &v2.csv());
    r.write("a.parquet", &v2.parquet(&["id"]));
    r.ok(&["add", "a.csv", "a.parquet"]);
    let c = table_diff(&r, &["a.csv"]);
    let p = table_diff(&r, &["a.parquet"]);
    assert_eq!(c["rows"], p["rows"]);
    assert_eq!(changes(&c).len(), 3);
}

#[test]
fn bad_tables_give_clear_errors_and_record_nothing() {
    let r = TestRepo::new();
    let cases: Vec<(&str, Vec<u8>, Vec<&str>, &str)> = vec![
        (
            "dup.csv",
            b"id,v\n1,a\n2,b\n1,c\n3,d\n3,e\n".to_vec(),
            vec!["--key", "id"],
            "dup.csv: duplicate keys in key column(s) id: 1; 3",
        ),
        (
            "nokey.csv",
            b"id,v\n1,a\n".to_vec(),
            vec!["--key", "uid"],
            "key column \"uid\" is not in the table (columns: id, v)",
        ),
        (
            "ragged.csv",
            b"id,v\n1,a\n2\n".to_vec(),
            vec!["--key", "id"],
            "ragged.csv: ",
        ),
        (
            "utf.csv",
            b"id,v\n1,a\n2,\xff\xfe\n".to_vec(),
            vec!["--key", "id"],
            "utf.csv: ",
        ),
        (
            "bad.parquet",
            b"PAR1 this is not parquet".to_vec(),
            vec!["--table"],
            "bad.parquet: not a readable Parquet file",
        ),
        (
            "nullkey.csv",
            b"id,v\n1,a\n,b\n".to_vec(),
            vec!["--key", "id"],
            "row 2 has no value in key column \"id\"",
        ),
        (
            "notes.txt",
            b"hello".to_vec(),
            vec!["--table"],
            "only a .csv, .tsv or .parquet file can be tracked as a table",
        ),
    ];
    for (name, data, flags, want) in cases {
        r.write(name, &data);
        let mut args = vec!["add", name];
        args.extend(flags);
        let err = r.fails(&args);
        assert!(err.contains(want), "{name}: {err}");
        assert!(
            !r.p(&format!("{name}.dv")).exists(),
            "{name}: no pointer written"
        );
    }
    let err = r.fails(&["add", "ragged.csv", "--key", "id"]);
    assert!(
        err.contains("line") || err.contains("record"),
        "names where: {err}"
    );
    assert_eq!(
        r.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
}

#[test]
fn a_table_diff_is_the_same_after_push_clone_and_pull() {
    let remote = tempfile::tempdir().unwrap();
    let r = TestRepo::new();
    r.ok(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    r.git(&["add", ".dv"]);
    let v1 = people(800, 9);
    r.write("t.csv", &v1.csv());
    r.ok(&["add", "t.csv", "--key", "id"]);
    commit(&r, "v1");
    let mut v2 = v1.clone();
    v2.rows[7][1] = Some("changed".into());
    r.write("t.csv", &v2.csv());
    r.ok(&["add", "t.csv"]);
    commit(&r, "v2");
    let here = table_diff(&r, &["HEAD~1", "HEAD", "t.csv"]);
    r.ok(&["push", "--rev", "HEAD~1"]);
    r.ok(&["push"]);
    let clone = tempfile::tempdir().unwrap();
    git_in(
        clone.path(),
        &["clone", "-q", r.path().to_str().unwrap(), "."],
    );
    let out = dv_command(clone.path()).args(["pull"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dv_command(clone.path())
        .args(["fetch", "--rev", "HEAD~1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dv_command(clone.path())
        .args(["diff", "HEAD~1", "HEAD", "t.csv", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let there: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(there[0]["table"], here);
    assert_eq!(here["rows_modified"], 1);
}

/// Runs dv in `r`, with `DV_TABLE_SORT_MEMORY` set when `memory` is; returns (exit code, stdout, stderr).
fn dv_sorting_in(r: &TestRepo, memory: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut c = dv_command(r.path());
    match memory {
        Some(m) => c.env("DV_TABLE_SORT_MEMORY", m),
        None => c.env_remove("DV_TABLE_SORT_MEMORY"),
    };
    let out = c.args(args).output().expect("dv runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// How many of each row a table holds.
fn row_counts(t: &T) -> BTreeMap<Vec<Option<String>>, i64> {
    let mut m = BTreeMap::new();
    for r in &t.rows {
        *m.entry(r.clone()).or_insert(0) += 1;
    }
    m
}

/// Issue #5: a table larger than the sort budget is sorted in spilled runs merged from disk; its row tree, and so
/// its header id, pointer file and diffs, are exactly those of an in-memory sort, duplicate keys are reported
/// the same way, and no run file is left behind.
#[test]
fn tables_sorted_on_disk_match_tables_sorted_in_memory() {
    let n = 20_000;
    let base = people(n, 5);
    // Rows in scrambled key order, so that every run spans the whole key range.
    let mut v1 = base.clone();
    v1.rows = (0..n).map(|i| base.rows[(i * 7919) % n].clone()).collect();
    let mut v2 = v1.clone();
    let mut modified = 0;
    for i in (0..n).step_by(101) {
        v2.rows[i][2] = Some("123.4".into());
        modified += 1;
    }
    let deleted: Vec<usize> = (5..n)
        .step_by(397)
        .filter(|i| !i.is_multiple_of(101))
        .collect();
    for &i in deleted.iter().rev() {
        v2.rows.remove(i);
    }
    for k in 0..50 {
        let id = (100_000 + k).to_string();
        v2 = v2.row(&[&id, "new", "1.0", "2025-01-01"]);
    }
    // Keyless versions: the same rows, 500 of them twice.
    let keyless = |t: &T| {
        let mut k = t.clone();
        k.rows.extend(t.rows[..500].iter().cloned());
        k
    };
    let (k1, k2) = (keyless(&v1), keyless(&v2));

    let spill = TestRepo::new();
    let plain = TestRepo::new();
    for (r, memory) in [(&spill, Some("65536")), (&plain, None)] {
        let add = |args: &[&str]| {
            let (code, _, err) = dv_sorting_in(r, memory, args);
            assert_eq!(code, 0, "dv {args:?} ({memory:?}): {err}");
        };
        r.write("p.csv", &v1.csv());
        r.write("k.csv", &k1.csv());
        // The budget is passed: the rows are spilled and merged (and without it, not).
        let (code, _, log) = dv_sorting_in(r, memory, &["-vv", "add", "p.csv", "--key", "id"]);
        assert_eq!(code, 0, "{log}");
        assert_eq!(
            log.contains("table rows spilled"),
            memory.is_some(),
            "{log}"
        );
        add(&["add", "k.csv", "--table"]);
        commit(r, "v1");
        r.write("p.csv", &v2.csv());
        r.write("k.csv", &k2.csv());
        add(&["add", "p.csv", "k.csv"]);
        commit(r, "v2");
    }
    for pointer in ["p.csv.dv", "k.csv.dv"] {
        assert_eq!(
            String::from_utf8(spill.read(pointer)).unwrap(),
            String::from_utf8(plain.read(pointer)).unwrap(),
            "{pointer}: the same table ids whether or not the sort spilled"
        );
    }
    let counts = |t: &serde_json::Value| {
        (
            t["rows_added"].as_u64().unwrap(),
            t["rows_deleted"].as_u64().unwrap(),
            t["rows_modified"].as_u64().unwrap(),
        )
    };
    let p = table_diff(&spill, &["HEAD~1", "HEAD", "p.csv"]);
    assert_eq!(p, table_diff(&plain, &["HEAD~1", "HEAD", "p.csv"]));
    assert_eq!(counts(&p), (50, deleted.len() as u64, modified));
    let k = table_diff(&spill, &["HEAD~1", "HEAD", "k.csv"]);
    assert_eq!(k, table_diff(&plain, &["HEAD~1", "HEAD", "k.csv"]));
    let (c1, c2) = (row_counts(&k1), row_counts(&k2));
    let more = |a: &BTreeMap<_, i64>, b: &BTreeMap<_, i64>| {
        a.iter()
            .map(|(r, n)| (n - b.get(r).copied().unwrap_or(0)).max(0) as u64)
            .sum::<u64>()
    };
    assert_eq!(counts(&k), (more(&c2, &c1), more(&c1, &c2), 0));

    // Duplicate keys far apart (in different runs): the same error, and nothing recorded.
    let mut dup = v1.clone();
    for i in (0..n).step_by(1500) {
        let again = dup.rows[i].clone();
        dup.rows.push(again);
    }
    let mut errors = Vec::new();
    for (r, memory) in [(&spill, Some("65536")), (&plain, None)] {
        r.write("d.csv", &dup.csv());
        let (code, _, err) = dv_sorting_in(r, memory, &["add", "d.csv", "--key", "id"]);
        assert_eq!(code, 1, "{err}");
        assert!(!r.p("d.csv.dv").exists(), "no pointer written");
        errors.push(err);
    }
    assert_eq!(errors[0], errors[1]);
    assert!(
        errors[0].contains("duplicate keys in key column(s) id: ")
            && errors[0].contains(" and 9 more"),
        "{}",
        errors[0]
    );
    assert_eq!(
        spill.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    let left: Vec<String> = std::fs::read_dir(spill.p(".dv/cache/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}
