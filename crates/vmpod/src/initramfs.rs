//! The guest's initramfs, a cpio archive (`newc`, uncompressed: the kernel unpacks it
//! directly): `strata-agent` as `/init`, the kernel modules it loads (and the list of them in
//! load order, `/etc/strata/modules`), `/dev/console` for the earliest messages,
//! strata-pause at [`strata_agent::GUEST_INIT`] for `--init`, and optionally a static busybox
//! for debugging and tests.

use crate::kernel::Kernel;
use crate::{io_err, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What goes into an initramfs.
pub struct Contents<'a> {
    /// The static `strata-agent`.
    pub agent: &'a Path,
    /// The guest kernel whose modules are carried.
    pub kernel: &'a Kernel,
    /// Module names (resolved with their dependencies), loaded at boot.
    pub modules: &'a [&'a str],
    /// Sets of module names (resolved with their dependencies) the guest loads when it needs
    /// them, by set name.
    pub on_demand: &'a [(&'a str, &'a [&'a str])],
    /// A static busybox, installed as `/bin/busybox` with a few applets.
    pub busybox: Option<&'a Path>,
}

/// A cpio `newc` writer.
struct Cpio<W: Write> {
    out: W,
    ino: u32,
    written: u64,
}

impl<W: Write> Cpio<W> {
    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> std::io::Result<()> {
        self.ino += 1;
        let namesize = name.len() + 1;
        let head =
            format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino, mode, 0, 0, 1, 0, data.len(), 0, 0, rdev.0, rdev.1, namesize, 0
        );
        self.put(head.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.written += b.len() as u64;
        self.out.write_all(b)
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..n])
    }

    fn dir(&mut self, name: &str) -> std::io::Result<()> {
        self.entry(name, 0o040755, (0, 0), &[])
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
        self.entry(name, 0o100000 | mode, (0, 0), data)
    }

    fn symlink(&mut self, name: &str, target: &str) -> std::io::Result<()> {
        self.entry(name, 0o120777, (0, 0), target.as_bytes())
    }

    fn finish(mut self) -> std::io::Result<W> {
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Applets linked to busybox when it is carried.
const APPLETS: &[&str] = &["sh", "cat", "ls", "uname", "sleep", "echo", "dmesg"];

/// Writes the initramfs to `out`.
pub fn build(out: &Path, c: &Contents<'_>) -> Result<()> {
    let what = format!("initramfs {}", out.display());
    let read = |p: &Path| std::fs::read(p).map_err(io_err(format!("{what}: {}", p.display())));
    let agent = read(c.agent)?;
    let modules = c.kernel.resolve(c.modules)?;
    let mut sets = Vec::new();
    for (name, names) in c.on_demand {
        sets.push((*name, c.kernel.resolve(names)?));
    }
    // Each module file once, whichever lists name it.
    let mut files = modules.clone();
    for m in sets.iter().flat_map(|(_, ms)| ms) {
        if !files.contains(m) {
            files.push(m.clone());
        }
    }
    let f = std::fs::File::create(out).map_err(io_err(&what))?;
    let mut w = Cpio {
        out: std::io::BufWriter::new(f),
        ino: 0,
        written: 0,
    };
    let mut go = || -> Result<()> {
        let e = io_err(&what);
        for d in [
            "dev",
            "proc",
            "sys",
            "tmp",
            "etc",
            "etc/strata",
            "bin",
            "lib",
            "lib/modules",
            "lib/strata",
        ] {
            w.dir(d).map_err(io_err(&what))?;
        }
        w.entry("dev/console", 0o020600, (5, 1), &[]).map_err(e)?;
        w.file("init", 0o755, &agent).map_err(io_err(&what))?;
        let guest_init = strata_agent::GUEST_INIT.trim_start_matches('/');
        w.file(guest_init, 0o555, strata_pause::PROGRAM)
            .map_err(io_err(&what))?;
        if let Some(bb) = c.busybox {
            w.file("bin/busybox", 0o755, &read(bb)?)
                .map_err(io_err(&what))?;
            for a in APPLETS {
                w.symlink(&format!("bin/{a}"), "busybox")
                    .map_err(io_err(&what))?;
            }
        }
        let root = format!("lib/modules/{}", c.kernel.release);
        let mut dirs: Vec<PathBuf> = vec![PathBuf::from(&root)];
        for m in &files {
            let dest = Path::new(&root).join(m);
            for a in dest
                .ancestors()
                .skip(1)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                if a.as_os_str().len() > root.len() && !dirs.contains(&a.to_path_buf()) {
                    dirs.push(a.to_path_buf());
                }
            }
        }
        for d in &dirs {
            w.dir(&d.to_string_lossy()).map_err(io_err(&what))?;
        }
        for m in &files {
            let dest = format!("{root}/{}", m.display());
            w.file(&dest, 0o644, &read(&c.kernel.modules.join(m))?)
                .map_err(io_err(&what))?;
        }
        let list = |ms: &[PathBuf]| -> String {
            ms.iter()
                .map(|m| format!("/{root}/{}\n", m.display()))
                .collect()
        };
        w.file("etc/strata/modules", 0o644, list(&modules).as_bytes())
            .map_err(io_err(&what))?;
        for (name, ms) in &sets {
            w.file(
                &format!("etc/strata/modules.{name}"),
                0o644,
                list(ms).as_bytes(),
            )
            .map_err(io_err(&what))?;
        }
        Ok(())
    };
    go()?;
    w.finish().map_err(io_err(&what))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_newc_and_four_byte_aligned() {
        let mut w = Cpio {
            out: Vec::new(),
            ino: 0,
            written: 0,
        };
        w.file("init", 0o755, b"abcde").unwrap();
        w.symlink("bin/sh", "busybox").unwrap();
        let out = w.finish().unwrap();
        assert!(out.starts_with(b"070701"));
        assert_eq!(out.len() % 4, 0);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("init\0") && text.contains("abcde") && text.contains("TRAILER!!!"));
        // The first header: mode 0o100755, size 5, name size 5.
        assert_eq!(&text[14..22], "000081ed");
        assert_eq!(&text[54..62], "00000005");
        assert_eq!(&text[94..102], "00000005");
    }
}
