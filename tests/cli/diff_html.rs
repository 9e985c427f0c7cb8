//! `dv diff --html` and `dv lineage --format svg|html`: the pages' content without a browser (escaping, caps with
//! exact counts, `-o`, flags that do not go together), and the stale steps `dv diff` reports in every format.
//! scripts/browser-test.sh renders the same pages in headless Chromium.

use crate::common::*;
use serde_json::Value;

fn commit(r: &TestRepo, msg: &str) {
    r.git(&["add", "-A"]);
    r.git(&["commit", "-q", "-m", msg]);
}

/// Every opening tag of these elements has its closing tag, and the page is one whole document.
fn assert_whole_page(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>\n"), "{html}");
    assert!(html.ends_with("</html>\n"), "{html}");
    for tag in [
        "html", "head", "body", "section", "table", "tr", "td", "th", "h1", "h2", "h3", "h4", "p",
        "code", "del", "ins", "svg", "ul", "li", "dl",
    ] {
        let opens =
            html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count();
        let closes = html.matches(&format!("</{tag}>")).count();
        assert_eq!(
            opens, closes,
            "<{tag}> opened {opens} times, closed {closes} times"
        );
    }
    // Nothing runs and nothing is fetched: no element that could, no style that could.
    for tag in [
        "<script", "<img", "<link", "<iframe", "<object", "<embed", "<base", "<form",
    ] {
        assert!(!html.contains(tag), "the page has an element {tag}");
    }
    for fetch in ["href=\"http", "@import", "@font-face"] {
        assert!(!html.contains(fetch), "the page fetches something: {fetch}");
    }
    // url() only within the page (the SVG's arrowhead).
    assert_eq!(html.matches("url(").count(), html.matches("url(#").count());
}

/// A keyed table of `n` rows whose `score` is `base + id`.
fn scores(n: usize, base: usize) -> Vec<u8> {
    let mut s = String::from("id,name,score\n");
    for i in 1..=n {
        s.push_str(&format!("{i},name{i},{}\n", base + i));
    }
    s.into_bytes()
}

#[test]
fn hostile_names_cells_and_messages_are_escaped() {
    let r = TestRepo::new();
    r.write("data/plain.txt", b"one");
    r.write("t.csv", b"id,note\n1,fine\n2,gone\n");
    r.ok(&["add", "data"]);
    r.ok(&["add", "t.csv", "--key", "id"]);
    commit(&r, "v1");
    let evil = "<img src=x onerror=alert(1)>.txt";
    r.write(&format!("data/{evil}"), b"boo");
    r.write("data/\"&'.txt", b"quotes");
    r.write(
        "t.csv",
        b"id,note,<b>col</b>\n1,<script>alert(1)</script>,x\n3,</td></tr></table>,\"&amp; \"\"q\"\" 'a'\"\n",
    );
    r.ok(&["add", "data", "t.csv"]);
    commit(&r, "v2 <i>italic</i> & \"quoted\"");
    let html = r.ok(&["diff", "HEAD~1", "HEAD", "--html"]);
    assert_whole_page(&html);
    for (raw, escaped) in [
        (
            "<img src=x onerror=alert(1)>.txt",
            "&lt;img src=x onerror=alert(1)&gt;.txt",
        ),
        (
            "<script>alert(1)</script>",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
        ),
        ("<b>col</b>", "&lt;b&gt;col&lt;/b&gt;"),
        ("</td></tr></table>", "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;"),
        (
            "<i>italic</i>",
            "&lt;i&gt;italic&lt;/i&gt; &amp; &quot;quoted&quot;",
        ),
    ] {
        assert!(!html.contains(raw), "{raw} is in the page unescaped");
        assert!(html.contains(escaped), "{escaped} is not in the page");
    }
    // A path with a double quote is shown as everywhere else (quoted, escaped), then made HTML.
    assert!(
        html.contains("&quot;data/\\&quot;&amp;&#39;.txt&quot;"),
        "{html}"
    );
    // A cell that already holds an entity is shown as written, not decoded.
    assert!(
        html.contains("&amp;amp; &quot;q&quot; &#39;a&#39;"),
        "{html}"
    );
}

#[test]
fn rows_and_files_are_capped_with_exact_counts() {
    let r = TestRepo::new();
    r.write("t.csv", &scores(1500, 0));
    for i in 0..5 {
        r.write(&format!("f/{i}.txt"), b"same");
    }
    r.ok(&["add", "t.csv", "--key", "id"]);
    r.ok(&["add", "f"]);
    commit(&r, "v1");
    let mut csv = String::from_utf8(scores(1500, 1)).unwrap();
    csv.push_str("1501,new,1\n1502,new,2\n");
    r.write("t.csv", csv.as_bytes());
    for i in 0..5 {
        r.write(&format!("f/{i}.txt"), b"changed");
    }
    r.ok(&["add", "t.csv", "f"]);
    commit(&r, "v2");

    // No --limit: at most 1000 rows.
    let html = r.ok(&["diff", "HEAD~1", "HEAD", "t.csv", "--html"]);
    assert_whole_page(&html);
    assert!(html.contains("Showing 1,000 of 1,502 changed rows (raise --limit to see more)."));
    assert!(html.contains("<dt>Limited to</dt><dd><code>t.csv</code></dd>"));
    assert_eq!(html.matches("<tr class=\"modified\">").count(), 1000);
    assert!(html.contains("<span class=\"badge modified\">1,500 modified</span>"));
    assert!(html.contains("<span class=\"badge added\">2 added</span>"));
    // Rows come in key order (numbers as numbers), so the last ones and the added ones are past the cap.
    assert!(!html.contains("Added rows"));
    assert!(html.contains("<td class=\"k\">1000</td><td class=\"v chg\"><del>1000</del><span class=\"arrow\">→</span><ins>1001</ins></td>"));
    assert!(!html.contains("<td class=\"k\">1001</td>"));

    // --limit caps rows and files alike; the counts stay exact, and JSON holds the same rows.
    let html = r.ok(&["diff", "HEAD~1", "HEAD", "--html", "--limit", "3"]);
    assert!(html.contains("Showing 3 of 1,502 changed rows"), "{html}");
    // Three rows, three files.
    assert_eq!(html.matches("<tr class=\"modified\">").count(), 3 + 3);
    assert!(html.contains("Showing 3 of 5 changed files."), "{html}");
    assert!(html.contains("Files: 0 added, 0 deleted, 5 modified"));
    let json = r.json(&["diff", "HEAD~1", "HEAD", "--limit", "3"]);
    let table = json
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "t.csv")
        .unwrap()["table"]
        .clone();
    assert_eq!(table["rows"].as_array().unwrap().len(), 3);
    assert_eq!(table["rows_modified"], 1500);
    for row in table["rows"].as_array().unwrap() {
        let key = row["key"][0].as_str().unwrap();
        assert!(
            html.contains(&format!("<td class=\"k\">{key}</td>")),
            "row {key}"
        );
    }

    // --stat: counts only.
    let html = r.ok(&["diff", "HEAD~1", "HEAD", "--html", "--stat"]);
    assert!(html.contains("No rows listed (--stat or --limit 0): the counts above are exact."));
    assert!(html.contains("<span class=\"badge modified\">1,500 modified</span>"));
    assert!(!html.contains("<tr class=\"modified\">"));

    // Under the cap, every row, and the line says so.
    let html = r.ok(&[
        "diff", "HEAD~1", "HEAD", "t.csv", "--html", "--limit", "5000",
    ]);
    assert!(
        html.contains("Showing 1,502 of 1,502 changed rows."),
        "capped"
    );
    assert_eq!(html.matches("<tr class=\"added\">").count(), 2);
}

/// A safetensors file of F32 tensors: the header's length, the header padded to 8 bytes, the data.
fn safetensors(tensors: &[(&str, &[f32])]) -> Vec<u8> {
    let (mut entries, mut offset) = (Vec::new(), 0);
    for (name, v) in tensors {
        let end = offset + 4 * v.len();
        entries.push(format!(
            "\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            v.len()
        ));
        offset = end;
    }
    let mut header = format!("{{{}}}", entries.join(","));
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    for (_, v) in tensors {
        out.extend(v.iter().flat_map(|x| x.to_le_bytes()));
    }
    out
}

/// What `--json` holds, the page shows: every file, changed cell, row and tensor of a folder, a table and a model.
#[test]
fn the_page_shows_what_json_holds() {
    let r = TestRepo::new();
    r.write(
        "m.safetensors",
        &safetensors(&[("a", &[1.0; 4]), ("b", &[0.5; 2]), ("c", &[2.0])]),
    );
    r.write("t.csv", b"id,name,n\n1,x,1\n2,y,2\n3,z,3\n");
    r.write("d/keep.txt", b"keep");
    r.write("d/old.txt", b"old");
    r.write("d/moved.txt", b"moved");
    r.ok(&["add", "m.safetensors", "d"]);
    r.ok(&["add", "t.csv", "--key", "id"]);
    commit(&r, "v1");
    r.write(
        "m.safetensors",
        &safetensors(&[
            ("a", &[1.0, 1.5, 1.0, -1.0]),
            ("b", &[0.5, 0.25]),
            ("d", &[3.0]),
        ]),
    );
    r.write("t.csv", b"id,name,n\n1,x,10\n3,zed,3\n4,w,4\n");
    std::fs::remove_file(r.p("d/old.txt")).unwrap();
    std::fs::rename(r.p("d/moved.txt"), r.p("d/moved-here.txt")).unwrap();
    r.write("d/new.txt", b"new file");
    r.ok(&["add", "m.safetensors", "t.csv", "d"]);
    commit(&r, "v2");
    let json = r.json(&["diff", "HEAD~1", "HEAD"]);
    let html = r.ok(&["diff", "HEAD~1", "HEAD", "--html"]);
    assert_whole_page(&html);
    let mut seen = 0;
    let mut has = |what: String| {
        assert!(html.contains(&what), "{what} is not on the page");
        seen += 1;
    };
    for d in json.as_array().unwrap() {
        has(format!("<code>{}</code>", d["path"].as_str().unwrap()));
        for f in d["files"].as_array().unwrap() {
            has(f["path"].as_str().unwrap().to_string());
            if let Some(old) = f["old_path"].as_str() {
                has(format!(
                    "{old}<span class=\"arrow\">→</span>{}",
                    f["path"].as_str().unwrap()
                ));
            }
        }
        for row in d["table"]["rows"].as_array().into_iter().flatten() {
            for c in row["cells"].as_array().into_iter().flatten() {
                has(format!(
                    "<del>{}</del><span class=\"arrow\">→</span><ins>{}</ins>",
                    c["old"].as_str().unwrap(),
                    c["new"].as_str().unwrap()
                ));
            }
            for cell in row["row"].as_array().into_iter().flatten() {
                has(format!(
                    "<td class=\"v\">{}</td>",
                    cell[1].as_str().unwrap()
                ));
            }
        }
        for t in d["model"]["tensors"].as_array().into_iter().flatten() {
            has(format!(
                "<td class=\"mono\">{}</td>",
                t["name"].as_str().unwrap()
            ));
            if let Some(n) = t["changed_elements"].as_u64() {
                has(format!("{n} of {} (", t["elements"]));
            }
            if let Some(d) = t["max_abs_change"].as_f64() {
                has(format!("<td class=\"num\">{d}</td>"));
            }
        }
    }
    // 3 datasets; 5 files and a rename; 2 changed cells, 2 whole rows of 3 cells; 4 tensors, 2 of them changed
    // (elements and |Δ|).
    assert_eq!(seen, 3 + 6 + 2 + 6 + 4 + 2 + 2);
    assert!(html.contains("<span class=\"badge added\">1 added</span> <span class=\"badge removed\">1 removed</span> <span class=\"badge changed\">2 changed</span> 0 unchanged"));
    // The tensor list is capped as the files are, counts exact.
    let html = r.ok(&[
        "diff",
        "HEAD~1",
        "HEAD",
        "m.safetensors",
        "--html",
        "--limit",
        "2",
    ]);
    assert!(html.contains("Showing 2 of 4 changed tensors."), "{html}");
    assert_eq!(html.matches("<td class=\"mono\">").count(), 2 * 3);
}

#[test]
fn output_file_gets_the_page_and_stdout_stays_empty() {
    let r = TestRepo::new();
    r.write("a.txt", b"one");
    r.ok(&["add", "a.txt"]);
    commit(&r, "v1");
    r.write("a.txt", b"two!");
    r.ok(&["add", "a.txt"]);
    commit(&r, "v2");
    let page = r.ok(&["diff", "HEAD~1", "HEAD", "--format", "html"]);
    std::fs::create_dir(r.p("sub")).unwrap();
    let out = r.dv_in(
        "sub",
        &["diff", "HEAD~1", "HEAD", "--html", "-o", "report.html"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("report.html"));
    // Relative to the folder dv ran in, the same page as on stdout.
    assert_eq!(String::from_utf8(r.read("sub/report.html")).unwrap(), page);
    assert_whole_page(&page);
    assert!(page.contains("<code>HEAD~1</code>"));
    assert!(page.contains("One file, 3 B<span class=\"arrow\">→</span>4 B."));
    // Written whole over an old file, with no temporary file left.
    r.write("sub/report.html", b"old report, much longer than nothing");
    let out = r.dv_in(
        "sub",
        &[
            "-q",
            "diff",
            "HEAD~1",
            "HEAD",
            "--html",
            "--output",
            "report.html",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "-q: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(r.read("sub/report.html")).unwrap(), page);
    assert_no_temp_files(r.path(), "diff -o");
    // The work tree is the after side when there is one revision.
    let page = r.ok(&["diff", "HEAD", "--html"]);
    assert!(page.contains("<code>work tree</code>"));
    assert!(page.contains("the pointer files in the work tree"));
}

#[test]
fn flags_that_do_not_go_together_are_usage_errors() {
    let r = TestRepo::new();
    r.write("a.txt", b"one");
    r.ok(&["add", "a.txt"]);
    commit(&r, "v1");
    for (args, want) in [
        (
            &["diff", "--html", "--format", "csv"][..],
            "error: --html writes an HTML page and --format csv asks for csv: give one of them",
        ),
        (
            &["diff", "--json", "--format", "html"][..],
            "error: --json and --format html ask for two outputs: give one of them",
        ),
        (
            &["diff", "-o", "r.html"][..],
            "error: -o/--output writes the HTML report: use it with --html",
        ),
        (
            &["diff", "--format", "json", "-o", "r.html"][..],
            "error: -o/--output writes the HTML report: use it with --html",
        ),
        (
            &["diff", "--html", "--json"][..],
            "error: the argument '--html' cannot be used with '--json'",
        ),
        (
            &["diff", "--format", "pdf"][..],
            "error: invalid value 'pdf' for '--format <FORMAT>'",
        ),
        (
            &["lineage", "a.txt", "--format", "png"][..],
            "error: invalid value 'png' for '--format <FORMAT>'",
        ),
    ] {
        // Exit 1, as every usage error (docs/cli.md: 2 is for internal errors only), and nothing written.
        let err = r.fails(args);
        assert!(err.starts_with(want), "dv {args:?}: {err}");
    }
    assert!(!r.p("r.html").exists());
}

/// A pipeline of two steps over a tracked table: `prepare` reads raw.csv and writes prepared.txt, `count` reads
/// prepared.txt and writes count.txt. Committed as "v1".
fn pipeline() -> TestRepo {
    let r = TestRepo::new();
    r.write("raw.csv", &scores(3, 0));
    r.ok(&["add", "raw.csv", "--key", "id"]);
    r.ok(&[
        "run",
        "-n",
        "prepare",
        "-d",
        "raw.csv",
        "-o",
        "prepared.txt",
        "--",
        "sh",
        "-c",
        "sort raw.csv > prepared.txt",
    ]);
    r.ok(&[
        "run",
        "-n",
        "count",
        "-d",
        "prepared.txt",
        "-o",
        "count.txt",
        "--",
        "sh",
        "-c",
        "wc -l < prepared.txt > count.txt",
    ]);
    commit(&r, "v1");
    r
}

fn stale(v: &Value, path: &str) -> Value {
    v.as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == path)
        .unwrap_or_else(|| panic!("no {path} in {v:#}"))["stale_steps"]
        .clone()
}

#[test]
fn diff_tells_which_steps_new_data_leaves_stale() {
    let r = pipeline();
    r.write("raw.csv", &scores(4, 0));
    r.ok(&["add", "raw.csv"]);
    commit(&r, "v2: new raw data, steps not run");

    let v = r.json(&["diff", "HEAD~1", "HEAD"]);
    assert_eq!(
        stale(&v, "raw.csv"),
        serde_json::json!([{"step": "prepare", "role": "input", "path": "raw.csv", "before": "up-to-date"}])
    );
    // Nothing else changed, so nothing else is reported stale (count reads prepared.txt, which is as recorded).
    for d in v
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["path"] != "raw.csv")
    {
        assert!(d.get("stale_steps").is_none(), "{d:#}");
    }
    let text = r.ok(&["diff", "HEAD~1", "HEAD"]);
    assert!(
        text.contains("    stale step: prepare reads raw.csv (up to date before)\n"),
        "{text}"
    );
    let html = r.ok(&["diff", "HEAD~1", "HEAD", "--html"]);
    assert!(
        html.contains(
            "<td><code>prepare</code> <span class=\"badge stale\">stale</span></td><td>reads</td>\
         <td class=\"mono\">raw.csv</td><td>up to date: this change made it stale</td>"
        ),
        "{html}"
    );

    // The steps run again: the new outputs match the records, nothing is stale.
    r.ok(&["repro"]);
    commit(&r, "v3: steps run");
    for (a, b) in [("HEAD~1", "HEAD"), ("HEAD~2", "HEAD")] {
        let v = r.json(&["diff", a, b]);
        for d in v.as_array().unwrap() {
            assert!(d.get("stale_steps").is_none(), "{a}..{b}: {d:#}");
        }
        assert!(!r.ok(&["diff", a, b, "--html"]).contains("Pipeline"));
    }

    // A hand-edited output: the step that wrote it no longer made it, and was up to date before.
    r.write("count.txt", b"999\n");
    r.ok(&["add", "count.txt"]);
    let v = r.json(&["diff"]);
    assert_eq!(
        stale(&v, "count.txt"),
        serde_json::json!([{"step": "count", "role": "output", "path": "count.txt", "before": "up-to-date"}])
    );
    // Back from there to v2, where prepare was already stale: "before" says so.
    commit(&r, "v4: count edited");
    let v = r.json(&["diff", "HEAD", "HEAD~2"]);
    assert_eq!(stale(&v, "raw.csv")[0]["before"], "up-to-date");
    let v = r.json(&["diff", "HEAD~2", "HEAD~2"]);
    assert_eq!(
        stale(&v, "raw.csv"),
        serde_json::json!([{"step": "prepare", "role": "input", "path": "raw.csv", "before": "stale"}])
    );
}

/// `(title, x)` of each box of an SVG the way lineage draws them.
fn boxes(svg: &str) -> Vec<(String, f64)> {
    svg.split("<g class=\"")
        .skip(1)
        .map(|g| {
            let title = g
                .split("<title>")
                .nth(1)
                .unwrap()
                .split("</title>")
                .next()
                .unwrap();
            let x = g
                .split("<rect x=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            (title.to_string(), x.parse().unwrap())
        })
        .collect()
}

#[test]
fn lineage_draws_the_step_graph_left_to_right() {
    let r = pipeline();
    let svg = r.ok(&["lineage", "raw.csv", "--format", "svg"]);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.ends_with("</svg>\n"));
    let json = r.json(&["lineage", "raw.csv"]);
    assert_eq!(
        svg.matches("<path class=\"edge\"").count(),
        json["edges"].as_array().unwrap().len()
    );
    let b = boxes(&svg);
    let x = |t: &str| {
        b.iter()
            .find(|(n, _)| n == t)
            .unwrap_or_else(|| panic!("no {t} in {b:?}"))
            .1
    };
    assert_eq!(b.len(), 5, "{b:?}");
    // Each step right of what it reads, each output right of its step.
    assert!(x("raw.csv") < x("step prepare"));
    assert!(x("step prepare") < x("prepared.txt"));
    assert!(x("prepared.txt") < x("step count"));
    assert!(x("step count") < x("count.txt"));
    // The path asked about stands out.
    assert!(
        svg.contains("<g class=\"path\"><title>raw.csv</title><rect")
            && svg.contains("stroke-width=\"2\"")
    );

    let html = r.ok(&["lineage", "count.txt", "--format", "html", "--upstream"]);
    assert_whole_page(&html);
    assert!(html.contains("<h1>Lineage of <code>count.txt</code></h1>"));
    assert!(
        html.contains(
            "<td class=\"v cmd\">sh -c &#39;wc -l &lt; prepared.txt &gt; count.txt&#39;</td>"
        ),
        "{html}"
    );
    assert_eq!(html.matches("<g class=\"step\">").count(), 2);

    // Names from data are escaped in the picture too.
    r.write("in<&>.txt", b"x");
    r.ok(&[
        "run",
        "-n",
        "odd",
        "-d",
        "in<&>.txt",
        "-o",
        "odd.txt",
        "--",
        "sh",
        "-c",
        "cat 'in<&>.txt' > odd.txt",
    ]);
    let svg = r.ok(&["lineage", "odd.txt", "--format", "svg"]);
    assert!(svg.contains("<title>in&lt;&amp;&gt;.txt</title>"), "{svg}");
    assert!(!svg.contains("in<&>"), "{svg}");
    // No step: a picture that says so.
    let svg = r.ok(&["lineage", "nothing.txt", "--format", "svg"]);
    assert!(
        svg.contains("No recorded step reads or writes nothing.txt"),
        "{svg}"
    );
}
