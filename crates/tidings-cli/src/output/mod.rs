//! What commands print, in two formats: tab-separated text lines for people
//! (the default) and JSON for scripts (`--json`). A one-shot command prints
//! one JSON document; a stream (`listen`, `room listen`, `room chat`) prints
//! one JSON object per line, each with a `type`. Field names are part of the
//! CLI's interface: add fields, never rename one.

pub mod json;
pub mod text;

use std::io::Write as _;

use serde_json::Value;

use crate::error::CliError;

/// Prints to standard output in the chosen format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    json: bool,
}

impl Printer {
    pub fn new(json: bool) -> Self {
        Printer { json }
    }

    pub fn is_json(self) -> bool {
        self.json
    }

    /// A one-shot command's answer: one JSON document, or its text lines.
    pub fn document(
        self,
        json: Value,
        lines: impl IntoIterator<Item = String>,
    ) -> Result<(), CliError> {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            writeln!(stdout, "{json}")?;
        } else {
            for line in lines {
                writeln!(stdout, "{line}")?;
            }
        }
        stdout.flush()?;
        Ok(())
    }

    /// One item of a stream: a JSON object on a line of its own, or one
    /// text line; written at once, so a reader sees it as it happens.
    pub fn event(self, json: Value, line: String) -> Result<(), CliError> {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            writeln!(stdout, "{json}")?;
        } else {
            writeln!(stdout, "{line}")?;
        }
        stdout.flush()?;
        Ok(())
    }
}
