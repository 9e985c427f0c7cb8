//! Column types of a CSV or TSV table, inferred from its cells' text.

/// Per-column type inference over CSV text: the narrowest of int, float, bool, date that fits every value.
#[derive(Clone)]
pub(super) struct Infer {
    int: bool,
    float: bool,
    boolean: bool,
    date: bool,
    any: bool,
}

impl Infer {
    pub(super) fn new() -> Infer {
        Infer {
            int: true,
            float: true,
            boolean: true,
            date: true,
            any: false,
        }
    }

    pub(super) fn see(&mut self, s: &str) {
        self.any = true;
        if self.int && s.parse::<i64>().is_err() {
            self.int = false;
        }
        if self.float && s.parse::<f64>().is_err() {
            self.float = false;
        }
        if self.boolean && !matches!(s, "true" | "false" | "TRUE" | "FALSE" | "True" | "False") {
            self.boolean = false;
        }
        if self.date && !is_date(s) {
            self.date = false;
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match () {
            _ if !self.any => "string",
            _ if self.int => "int",
            _ if self.float => "float",
            _ if self.boolean => "bool",
            _ if self.date => "date",
            _ => "string",
        }
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}
