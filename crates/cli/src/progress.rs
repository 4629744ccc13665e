//! Pull/push progress: indicatif bars on a terminal, plain lines otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use strata_image::progress::Progress;
use strata_image::Digest;

/// Progress output for the CLI.
pub struct CliProgress {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
    quiet: bool,
}

impl CliProgress {
    /// Bars when stderr is a terminal (and not quiet), lines otherwise.
    pub fn new(quiet: bool) -> Self {
        let multi = (!quiet && std::io::stderr().is_terminal()).then(MultiProgress::new);
        CliProgress {
            multi,
            bars: Mutex::new(HashMap::new()),
            quiet,
        }
    }
}

impl Progress for CliProgress {
    fn start(&self, d: &Digest, size: u64) {
        if let Some(m) = &self.multi {
            let pb = m.add(ProgressBar::new(size));
            pb.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            pb.set_prefix(format!("blob {}", d.short()));
            self.bars.lock().expect("bars").insert(d.clone(), pb);
        } else if !self.quiet {
            eprintln!("Copying blob {} ({size} bytes)", d.short());
        }
    }

    fn advance(&self, d: &Digest, n: u64) {
        if let Some(pb) = self.bars.lock().expect("bars").get(d) {
            pb.inc(n);
        }
    }

    fn finish(&self, d: &Digest, status: &str) {
        if let Some(pb) = self.bars.lock().expect("bars").remove(d) {
            pb.finish_with_message(status.to_string());
        } else if !self.quiet {
            eprintln!("Copying blob {} {status}", d.short());
        }
    }

    fn message(&self, msg: &str) {
        if !self.quiet {
            match &self.multi {
                Some(m) => {
                    let _ = m.println(msg);
                }
                None => eprintln!("{msg}"),
            }
        }
    }
}
