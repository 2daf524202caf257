//! The evaluation runner: input rules, output format, metrics.

use agg_saga::eval::{effective_dates, parse_row};
use agg_saga::{SagaConfig, evaluate, read_rows, write_tsv};

const ROWS: &str = r#"
{"id": "a1", "date": "2015-09-18T10:00:00Z", "title": "EPA says Volkswagen cheated diesel emissions tests", "text": "", "story": "vw"}
{"id": 7, "date": "2015-09-18T09:00:00Z", "title": "Floods in Bangladesh displace thousands of families", "text": "", "source": "X", "story": 2}
{"id": "a2", "title": "Volkswagen admits diesel emissions cheating in 11 million cars", "text": "", "story": "vw"}
{"id": "b2", "date": "not a date", "title": "Bangladesh floods death toll rises", "story": 2}
{"id": "a1", "date": "2015-09-18T10:00:00Z", "title": "EPA says Volkswagen cheated diesel emissions tests", "text": "", "story": "vw"}
{"id": "z", "date": "2099-01-01", "title": "", "text": "", "story": "z"}
"#;

#[test]
fn output_has_one_line_per_row_in_input_order() {
    let rows = read_rows(ROWS.as_bytes()).unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[1].id, "7");
    assert_eq!(rows[1].story.as_deref(), Some("2"));
    let out = evaluate(&rows, SagaConfig::default());
    let mut buf = Vec::new();
    write_tsv(&mut buf, &out.assignments).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(ids, ["a1", "7", "a2", "b2", "a1", "z"]);
    for l in &lines {
        let parts: Vec<&str> = l.split('\t').collect();
        assert_eq!(parts.len(), 2, "{l}");
        assert!(parts[1].parse::<u64>().is_ok(), "{l}");
    }
    // Duplicate id: same saga on both lines.
    assert_eq!(lines[0], lines[4]);
    // Same stories grouped, different ones apart.
    let saga = |i: usize| lines[i].split('\t').nth(1).unwrap().to_string();
    assert_eq!(saga(0), saga(2));
    assert_eq!(saga(1), saga(3));
    assert_ne!(saga(0), saga(1));
    let m = out.metrics.expect("gold present");
    assert_eq!(m.n, 5, "duplicate ids count once");
    assert!((m.bcubed_f1 - 1.0).abs() < 1e-9, "{m}");
}

#[test]
fn missing_and_bad_dates_take_the_previous_rows_date() {
    let rows = read_rows(ROWS.as_bytes()).unwrap();
    let d = effective_dates(&rows);
    assert_eq!(d[2], d[1], "missing date: previous row's");
    assert_eq!(d[3], d[2], "unparsable date: previous row's");
    assert_eq!(d[5], d[4], "far-future date: previous row's");
}

#[test]
fn no_gold_means_no_metrics_and_bad_lines_are_errors() {
    let rows = read_rows(r#"{"id":"x","title":"Hello world"}"#.as_bytes()).unwrap();
    let out = evaluate(&rows, SagaConfig::default());
    assert!(out.metrics.is_none());
    assert_eq!(out.assignments.len(), 1);
    let err = read_rows("{\"id\":\"x\"}\n\nnot json\n".as_bytes()).unwrap_err();
    assert!(err.to_string().starts_with("line 3:"), "{err}");
    assert!(parse_row(r#"{"title":"no id"}"#).is_err());
    assert!(parse_row("[1,2]").is_err());
}

#[test]
fn tabs_in_ids_do_not_break_lines() {
    let mut buf = Vec::new();
    write_tsv(&mut buf, &[("a\tb".to_string(), agg_saga::SagaId(3))]).unwrap();
    assert_eq!(String::from_utf8(buf).unwrap(), "a b\t3\n");
}

/// The real dev files, when the shared data folder is there (skipped otherwise).
#[test]
fn dev_file_smoke_when_available() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/stories/wcep-2015-09-dev.jsonl");
    let Ok(f) = std::fs::File::open(&p) else {
        eprintln!("skipped: {} not found", p.display());
        return;
    };
    let rows = read_rows(std::io::BufReader::new(f)).unwrap();
    let out = evaluate(&rows, SagaConfig::default());
    let m = out.metrics.unwrap();
    assert_eq!(m.n, rows.len());
    // Far above "every item alone" (0.56); loose bound, not a tuning target.
    assert!(m.bcubed_f1 > 0.7, "{m}");
}
