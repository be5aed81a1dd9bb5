//! Go's `text/tabwriter` as docker configures it (min width 10, padding 3, spaces).
//!
//! Column widths are computed per block of consecutive lines that have a cell in
//! that column, and a line without tabs ends every block, exactly as Go does; the
//! last cell of a line is never padded.

pub struct TabWriter {
    minwidth: usize,
    padding: usize,
    lines: Vec<Vec<String>>,
    out: String,
}

impl TabWriter {
    pub fn new(minwidth: usize, padding: usize) -> TabWriter {
        TabWriter {
            minwidth,
            padding,
            lines: Vec::new(),
            out: String::new(),
        }
    }

    /// docker's table writer.
    pub fn docker() -> TabWriter {
        TabWriter::new(10, 3)
    }

    pub fn write(&mut self, text: &str) {
        let mut rest = text;
        while let Some(nl) = rest.find('\n') {
            let line = &rest[..nl];
            let cells: Vec<String> = line.split('\t').map(str::to_string).collect();
            let single = cells.len() == 1;
            self.lines.push(cells);
            if single {
                self.flush_lines();
            }
            rest = &rest[nl + 1..];
        }
        if !rest.is_empty() {
            // An unterminated last line is completed by `finish`.
            self.lines
                .push(rest.split('\t').map(str::to_string).collect());
            if let Some(l) = self.lines.last_mut() {
                l.push("\u{0}".into());
            }
        }
    }

    pub fn finish(mut self) -> String {
        let partial = self
            .lines
            .last()
            .is_some_and(|l| l.last().is_some_and(|c| c == "\u{0}"));
        if partial {
            if let Some(l) = self.lines.last_mut() {
                l.pop();
            }
        }
        self.flush_lines();
        if partial && self.out.ends_with('\n') {
            self.out.pop();
        }
        self.out
    }

    fn flush_lines(&mut self) {
        let mut widths = Vec::new();
        let n = self.lines.len();
        self.format(&mut widths, 0, n);
        self.lines.clear();
    }

    fn format(&mut self, widths: &mut Vec<usize>, line0: usize, line1: usize) {
        let column = widths.len();
        let mut start = line0;
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(widths, start, this);
            start = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < self.lines[this].len() {
                let w = self.lines[this][column].chars().count() + self.padding;
                width = width.max(w);
                this += 1;
            }
            widths.push(width);
            self.format(widths, start, this);
            widths.pop();
            start = this;
        }
        self.write_lines(widths, start, line1);
    }

    fn write_lines(&mut self, widths: &[usize], line0: usize, line1: usize) {
        for line in &self.lines[line0..line1] {
            for (j, cell) in line.iter().enumerate() {
                self.out.push_str(cell);
                if j < widths.len() && j + 1 < line.len() {
                    let pad = widths[j].saturating_sub(cell.chars().count());
                    self.out.push_str(&" ".repeat(pad));
                }
            }
            self.out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_like_go() {
        let mut t = TabWriter::docker();
        t.write("CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox\tx\n");
        assert_eq!(
            t.finish(),
            "CONTAINER ID   IMAGE     NAMES\nabc            busybox   x\n"
        );
    }

    #[test]
    fn lines_without_tabs_end_blocks() {
        let mut t = TabWriter::new(0, 1);
        t.write("a\tb\nlonger\tc\nplain\nx\ty\n");
        assert_eq!(t.finish(), "a      b\nlonger c\nplain\nx y\n");
    }
}
