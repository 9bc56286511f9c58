//! The results table and the small statistics behind it.

use std::time::Duration;

/// Whether a measured figure meets its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The figure is within its target.
    Pass,
    /// The figure misses its target.
    Fail,
    /// The figure has no target and is shown for information.
    Info,
}

/// One line of the results table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Name of the measured figure, such as `warm start`.
    pub scenario: String,
    /// The figure, with its unit.
    pub measured: String,
    /// The target, with its unit, or `-`.
    pub target: String,
    /// Measured divided by target, when there is a target.
    pub ratio: Option<f64>,
    /// Whether the target is met.
    pub verdict: Verdict,
}

impl Row {
    /// Creates a row for an upper bound: it passes when `measured <= target`.
    pub fn at_most(
        scenario: impl Into<String>,
        measured: f64,
        target: f64,
        format: impl Fn(f64) -> String,
    ) -> Row {
        let verdict = if measured <= target {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        Row {
            scenario: scenario.into(),
            measured: format(measured),
            target: format!("<= {}", format(target)),
            ratio: Some(measured / target),
            verdict,
        }
    }

    /// Creates a row that only reports a figure.
    pub fn info(scenario: impl Into<String>, measured: impl Into<String>) -> Row {
        Row {
            scenario: scenario.into(),
            measured: measured.into(),
            target: "-".to_owned(),
            ratio: None,
            verdict: Verdict::Info,
        }
    }
}

/// Prints the rows as an aligned table on stdout.
pub fn print_table(rows: &[Row]) {
    let header = ["scenario", "measured", "target", "ratio", "result"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            [
                row.scenario.clone(),
                row.measured.clone(),
                row.target.clone(),
                row.ratio
                    .map_or("-".to_owned(), |ratio| format!("{ratio:.2}")),
                match row.verdict {
                    Verdict::Pass => "pass",
                    Verdict::Fail => "FAIL",
                    Verdict::Info => "info",
                }
                .to_owned(),
            ]
        })
        .collect();

    let mut widths = header.map(str::len);
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.len());
        }
    }
    let print_line = |line: [&str; 5]| {
        let text: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("| {} |", text.join(" | "));
    };

    print_line(header);
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for line in &cells {
        print_line(line.each_ref().map(String::as_str));
    }
}

/// Returns the median of `values`, or zero when there are none.
pub fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// Formats a duration in seconds with two decimals, such as `41.27 s`.
pub fn seconds(value: f64) -> String {
    format!("{value:.2} s")
}

/// Formats a duration in milliseconds, such as `23.4 ms`.
pub fn milliseconds(value: f64) -> String {
    format!("{value:.1} ms")
}

/// Formats a byte count in MiB, such as `45.2 MiB`.
pub fn mebibytes(value: f64) -> String {
    format!("{value:.1} MiB")
}

/// Formats a ratio of two measurements, such as `0.26x`.
pub fn times(value: f64) -> String {
    format!("{value:.2}x")
}

/// Formats a whole count.
pub fn count(value: f64) -> String {
    format!("{value:.0}")
}

/// Returns a list of durations in milliseconds, such as `[21.0, 23.5] ms`.
pub fn list_ms(values: &[Duration]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|value| format!("{:.1}", value.as_secs_f64() * 1000.0))
        .collect();
    format!("[{}] ms", items.join(", "))
}
