//! Spare disks of a pod's VM: a pod's later containers bring image layers the VM did not
//! boot with, and QEMU's microvm has no hot-plug. So the pod VM boots with [`COUNT`]
//! read-only disks of [`SIZE`] on an empty sparse file, and attaching a layer swaps a free
//! disk's image for the layer's erofs file (QMP `blockdev-add` and `blockdev-reopen`), padded
//! sparsely to the same size so the guest's idea of the disk's size holds. The guest drops
//! what it cached of the disk before mounting it. A layer attached once serves every
//! container of the pod that uses it.

use crate::qmp::Qmp;
use crate::{io_err, Error, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Spare disks a pod VM boots with: the distinct layers its containers can bring. QEMU's
/// microvm has 24 virtio transports; a pod VM's others are its agent's port, its network,
/// virtio-fs and its infra's layers. Idle disks cost nothing measurable at boot (8 and 16
/// started alike), and images of ten layers and more are common.
pub const COUNT: usize = 16;
/// Every spare disk's size, and the largest layer image one can take.
pub const SIZE: u64 = 16 << 30;
/// The empty image behind free disks, in the VM's directory.
pub const PLACEHOLDER: &str = "slot.img";

/// Spare disk `i`'s serial (the guest finds it by this).
pub fn serial(i: usize) -> String {
    format!("slot{i}")
}

/// The QEMU arguments of the spare disks (their placeholder in the VM's directory).
pub fn qemu_args() -> Vec<String> {
    let mut args = Vec::new();
    for i in 0..COUNT {
        args.push("-blockdev".into());
        args.push(format!(
            "driver=file,filename={PLACEHOLDER},node-name=slotfile{i},read-only=on"
        ));
        args.push("-blockdev".into());
        args.push(format!(
            "driver=raw,file=slotfile{i},node-name=slot{i},read-only=on"
        ));
        args.push("-device".into());
        args.push(format!(
            "virtio-blk-device,drive=slot{i},serial={}",
            serial(i)
        ));
    }
    args
}

/// Makes the empty placeholder image in `dir`.
pub fn make_placeholder(dir: &Path) -> Result<()> {
    let p = dir.join(PLACEHOLDER);
    let f = std::fs::File::create(&p).map_err(io_err(format!("spare disk {}", p.display())))?;
    f.set_len(SIZE)
        .map_err(io_err(format!("spare disk {}", p.display())))
}

/// Pads layer image `file` sparsely to [`SIZE`] (a no-op once done); a larger one is refused.
fn pad(file: &Path) -> Result<()> {
    let what = || format!("layer image {}", file.display());
    let md = std::fs::metadata(file).map_err(io_err(what()))?;
    if !md.is_file() {
        return Err(Error(format!("{}: not a regular file", what())));
    }
    match md.len() {
        n if n == SIZE => Ok(()),
        n if n > SIZE => Err(Error(format!(
            "{}: {n} bytes, more than a pod VM's disk holds ({SIZE})",
            what()
        ))),
        _ => std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .and_then(|f| f.set_len(SIZE))
            .map_err(io_err(what())),
    }
}

/// The spare disks of one VM and the layers they hold.
pub struct Slots {
    qmp: Mutex<Option<Qmp>>,
    dir: PathBuf,
    held: Mutex<Vec<Option<PathBuf>>>,
}

impl Slots {
    /// The spare disks of the VM whose directory is `dir` (QMP is connected on first use).
    pub fn new(dir: &Path) -> Slots {
        Slots {
            qmp: Mutex::new(None),
            dir: dir.to_path_buf(),
            held: Mutex::new(vec![None; COUNT]),
        }
    }

    /// Attaches the layer images `files` (lowest first); the serials of the disks that hold
    /// them, in order. A layer already attached keeps its disk.
    pub fn attach(&self, files: &[PathBuf]) -> Result<Vec<String>> {
        let mut held = self.held.lock().expect("slots lock");
        let mut serials = Vec::new();
        for f in files {
            let f =
                std::fs::canonicalize(f).map_err(io_err(format!("layer image {}", f.display())))?;
            if f.extension().and_then(|e| e.to_str()) != Some("erofs") {
                return Err(Error(format!(
                    "layer image {}: not an erofs layer image",
                    f.display()
                )));
            }
            if let Some(i) = held.iter().position(|h| h.as_deref() == Some(&f)) {
                serials.push(serial(i));
                continue;
            }
            let i = held.iter().position(Option::is_none).ok_or_else(|| {
                Error(format!(
                    "layer image {}: the pod's VM has no free disk (all {COUNT} hold layers)",
                    f.display()
                ))
            })?;
            pad(&f)?;
            self.swap(i, &f)?;
            held[i] = Some(f);
            serials.push(serial(i));
        }
        Ok(serials)
    }

    /// Puts `file` behind spare disk `i`.
    fn swap(&self, i: usize, file: &Path) -> Result<()> {
        let mut q = self.qmp.lock().expect("qmp lock");
        if q.is_none() {
            *q = Some(Qmp::connect(&self.dir)?);
        }
        let q = q.as_mut().expect("connected");
        let node = format!("layer{i}");
        q.execute(
            "blockdev-add",
            json!({"driver": "file", "node-name": node, "filename": file, "read-only": true}),
        )?;
        q.execute(
            "blockdev-reopen",
            json!({"options": [{"driver": "raw", "node-name": format!("slot{i}"), "file": node, "read-only": true}]}),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_images_are_padded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("l.erofs");
        std::fs::write(&img, b"erofs").unwrap();
        pad(&img).unwrap();
        assert_eq!(std::fs::metadata(&img).unwrap().len(), SIZE);
        let mut head = [0u8; 5];
        std::io::Read::read_exact(&mut std::fs::File::open(&img).unwrap(), &mut head).unwrap();
        assert_eq!(&head, b"erofs");
        pad(&img).unwrap();
        assert!(pad(dir.path()).is_err(), "a directory is no image");
        // Without QEMU behind it, a file that is no layer image is refused before QMP.
        let other = dir.path().join("x.img");
        std::fs::write(&other, b"x").unwrap();
        let err = Slots::new(dir.path()).attach(&[other]).unwrap_err();
        assert!(err.to_string().contains("not an erofs"), "{err}");
    }
}
