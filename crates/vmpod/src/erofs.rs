//! A layer as a read-only disk: an erofs image of its directory (mkfs.erofs from Debian's
//! erofs-utils), which keeps owners, modes, device nodes and the overlay whiteouts and
//! opaque markers an unpacked layer holds. Written beside its target and renamed in, so a
//! cached image is whole or absent. Several layers can also become one image of their
//! merged tree, as an overlay of them shows it (whiteouts and opaque directories applied),
//! for images with more layers than a VM has disks.

use crate::{io_err, Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Makes `out`, an erofs image of the tree at `src`.
pub fn build(src: &Path, out: &Path) -> Result<()> {
    let tmp = out.with_extension("erofs.tmp");
    let _ = std::fs::remove_file(&tmp);
    let o = Command::new("mkfs.erofs")
        .arg("--quiet")
        .arg(&tmp)
        .arg(src)
        .output()
        .map_err(io_err("mkfs.erofs (install erofs-utils)"))?;
    if !o.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error(format!(
            "layer image {} of {}: mkfs.erofs: {}",
            out.display(),
            src.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    std::fs::rename(&tmp, out).map_err(io_err(format!("layer image {}", out.display())))
}

/// Makes `out`, one erofs image of the layer directories `lowers` (top first, at least two)
/// merged: a read-only overlay of them is mounted in a mount namespace of a thread of its
/// own, which ends with the thread, so no mount outlives the build, even a crashed one.
pub fn build_merged(lowers: &[PathBuf], out: &Path) -> Result<()> {
    if lowers.len() < 2 {
        return Err(Error(format!(
            "layer image {}: merging needs two layers or more",
            out.display()
        )));
    }
    let view = out.with_extension("erofs.mnt");
    std::fs::create_dir_all(&view).map_err(io_err(format!("merged view {}", view.display())))?;
    let overlay = strata_os::mount::Overlay {
        lowers: lowers.to_vec(),
        upper: None,
        options: Vec::new(),
    };
    let (v, o) = (view.clone(), out.to_path_buf());
    let built = std::thread::spawn(move || -> Result<()> {
        // The new mount namespace is this thread's (and its children's): CLONE_NEWNS
        // implies CLONE_FS.
        strata_os::process::unshare(libc::CLONE_NEWNS).map_err(io_err(format!(
            "layer image {}: a mount namespace",
            o.display()
        )))?;
        strata_os::mount::change(Path::new("/"), libc::MS_REC | libc::MS_PRIVATE)
            .map_err(io_err("make the build's mounts private"))?;
        overlay
            .mount(&v)
            .map_err(io_err(format!("merged view {} of its layers", v.display())))?;
        build(&v, &o)
    })
    .join()
    .unwrap_or_else(|_| {
        Err(Error(format!(
            "layer image {}: the build panicked",
            out.display()
        )))
    });
    let _ = std::fs::remove_dir(&view);
    built
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// An overlay whiteout (a 0/0 character device) at `p`.
    fn whiteout(p: &Path) {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid path string; mknod creates a node, touching no memory of ours.
        assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) }, 0);
    }

    #[test]
    fn merged_layers_make_one_image_of_the_tree_an_overlay_shows() {
        if !(strata_testkit::require_root()
            && strata_testkit::require_tools(&["mkfs.erofs", "fsck.erofs"]))
        {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (base, mid, top) = (
            dir.path().join("base"),
            dir.path().join("mid"),
            dir.path().join("top"),
        );
        for d in [&base, &mid, &top] {
            std::fs::create_dir_all(d.join("etc")).unwrap();
        }
        std::fs::write(base.join("etc/kept"), "base").unwrap();
        std::fs::write(base.join("etc/replaced"), "base").unwrap();
        std::fs::write(base.join("gone"), "base").unwrap();
        std::fs::create_dir_all(base.join("opaque")).unwrap();
        std::fs::write(base.join("opaque/old"), "base").unwrap();
        symlink("etc/kept", base.join("link")).unwrap();
        std::fs::write(mid.join("etc/replaced"), "mid").unwrap();
        whiteout(&mid.join("gone"));
        std::fs::create_dir_all(mid.join("opaque")).unwrap();
        std::fs::write(mid.join("opaque/new"), "mid").unwrap();
        let c = std::ffi::CString::new(mid.join("opaque").to_str().unwrap()).unwrap();
        // SAFETY: valid strings; sets the overlay's opaque marker on a directory of ours.
        let r = unsafe {
            libc::setxattr(
                c.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        assert_eq!(r, 0);
        std::fs::write(top.join("etc/top"), "top").unwrap();
        let img = dir.path().join("m.flat.erofs");
        build_merged(&[top.clone(), mid.clone(), base.clone()], &img).unwrap();
        assert!(
            !dir.path().join("m.flat.erofs.mnt").exists(),
            "the view is removed"
        );
        let out = dir.path().join("out");
        let o = Command::new("fsck.erofs")
            .arg(format!("--extract={}", out.display()))
            .arg(&img)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let read = |p: &str| std::fs::read_to_string(out.join(p)).unwrap();
        assert_eq!(read("etc/kept"), "base");
        assert_eq!(read("etc/replaced"), "mid");
        assert_eq!(read("etc/top"), "top");
        assert_eq!(read("opaque/new"), "mid");
        assert_eq!(read("link"), "base", "the symlink is kept");
        assert!(!out.join("gone").exists(), "the whiteout is applied");
        assert!(
            !out.join("opaque/old").exists(),
            "the opaque directory hides the base"
        );
        // Nothing stays mounted on the host.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(dir.path().to_str().unwrap()), "{mounts}");
        assert!(build_merged(&[top], &dir.path().join("one.erofs")).is_err());
    }
}
