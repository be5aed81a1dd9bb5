//! Column alignment as Go's `text/tabwriter` does it for ctr's listings: cells end at
//! a tab, each column is as wide as its widest cell plus padding (at least `minwidth`);
//! the text after a line's last tab is not aligned.

pub struct TabWriter {
    minwidth: usize,
    padding: usize,
    padchar: char,
    lines: Vec<Vec<String>>,
}

impl TabWriter {
    pub fn new(minwidth: usize, padding: usize, padchar: char) -> TabWriter {
        TabWriter {
            minwidth,
            padding,
            padchar,
            lines: Vec::new(),
        }
    }

    /// One line; cells separated by `\t` (a trailing `\t` closes the last cell).
    pub fn line(&mut self, text: &str) {
        self.lines
            .push(text.split('\t').map(str::to_owned).collect());
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = Vec::new();
        for l in &self.lines {
            for (i, c) in l.iter().enumerate().take(l.len().saturating_sub(1)) {
                let w = (c.chars().count() + self.padding).max(self.minwidth);
                if widths.len() <= i {
                    widths.push(w);
                } else if widths[i] < w {
                    widths[i] = w;
                }
            }
        }
        let mut out = String::new();
        for l in &self.lines {
            let n = l.len();
            for (i, c) in l.iter().enumerate() {
                out.push_str(c);
                if i + 1 < n {
                    if self.padchar == '\t' {
                        let col = widths[i].div_ceil(8) * 8;
                        let len = c.chars().count();
                        for _ in 0..(col - len).div_ceil(8) {
                            out.push('\t');
                        }
                    } else {
                        for _ in c.chars().count()..widths[i] {
                            out.push(self.padchar);
                        }
                    }
                }
            }
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// Sizes as ctr prints them (`progress.Bytes`): 1010.7 KiB.
pub fn bytes(n: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_go_tabwriter() {
        let mut w = TabWriter::new(4, 4, ' ');
        w.line("TASK\tPID\tSTATUS\t");
        w.line("t2\t24420\tRUNNING");
        assert_eq!(
            w.render(),
            "TASK    PID      STATUS    \nt2      24420    RUNNING\n"
        );
        let mut w = TabWriter::new(1, 1, '\t');
        w.line("DIGEST\tSIZE");
        w.line(&format!("sha256:{}\t1B", "a".repeat(64)));
        assert!(w.render().starts_with("DIGEST\t\t\t\t\t\t\t\t\tSIZE\n"));
        assert_eq!(bytes(1_034_946), "1010.7 KiB");
        assert_eq!(bytes(422), "422 B");
    }
}
