//! Spare disks of a pod's VM: a pod's later containers bring image layers the VM did not
//! boot with, and QEMU's microvm has no virtio hot-plug. So the pod VM boots with [`COUNT`]
//! read-only disks of [`SIZE`] on an empty sparse file, and attaching a layer swaps a free
//! disk's image for the layer's erofs file (QMP `blockdev-add` and `blockdev-reopen`), padded
//! sparsely to the same size so the guest's idea of the disk's size holds. The guest drops
//! what it cached of the disk before mounting it. A layer attached once serves every
//! container of the pod that uses it; once none does and the guest has let go of the disk,
//! another layer can take it.

use crate::qmp::Shared;
use crate::{io_err, Error, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Spare disks a pod VM boots with: the distinct layers its containers can bring. QEMU's
/// microvm has 24 virtio transports; a pod VM's others are its agent's port, its networks,
/// virtio-fs and the SCSI controller of its containers' block devices. Idle disks cost
/// nothing measurable at boot (8 and 16 started alike), and images of ten layers and more
/// are common.
pub const COUNT: usize = 16;
/// Every spare disk's size, and the largest layer image one can take.
pub const SIZE: u64 = 16 << 30;
/// How long a disk whose layer no container uses may take to be let go of in the guest.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
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

/// Asks the guest which of some disks (by serial) it holds no file system on any more.
pub type UnusedDisks<'a> = dyn Fn(&[String]) -> Result<Vec<String>> + 'a;

/// One spare disk: the QEMU node of the image behind it, the layer it holds, and how many
/// of the pod's containers (their shims' proxy connections) use that layer.
struct Disk {
    node: String,
    layer: Option<PathBuf>,
    users: usize,
}

/// What a container's shim attached: the serials of its layers' disks (lowest layer
/// first), and the disks it uses until it goes ([`Slots::release`]).
#[derive(Debug)]
pub struct Attached {
    /// Serials, lowest layer first.
    pub serials: Vec<String>,
    /// The disks, by index, each once.
    pub disks: Vec<usize>,
}

/// The spare disks of one VM and the layers they hold. A layer no container uses any more
/// keeps its disk (the next container of that image finds it there) until a new layer needs
/// a disk and none is empty: then a disk the guest has no file system on any more takes it.
pub struct Slots {
    qmp: Arc<Shared>,
    disks: Mutex<Vec<Disk>>,
    swaps: std::sync::atomic::AtomicU64,
}

impl Slots {
    /// The spare disks of the VM behind `qmp`.
    pub fn new(qmp: Arc<Shared>) -> Slots {
        Slots {
            qmp,
            disks: Mutex::new(
                (0..COUNT)
                    .map(|i| Disk {
                        node: format!("slotfile{i}"),
                        layer: None,
                        users: 0,
                    })
                    .collect(),
            ),
            swaps: Default::default(),
        }
    }

    /// Attaches the layer images `files` (lowest first) for one container: a layer already
    /// attached keeps its disk. `unused` asks the guest which of some disks (by serial) it
    /// holds no file system on any more, when no disk is empty.
    pub fn attach(&self, files: &[PathBuf], unused: &UnusedDisks) -> Result<Attached> {
        let t0 = std::time::Instant::now();
        loop {
            let mut disks = self.disks.lock().expect("slots lock");
            let mut got = Attached {
                serials: Vec::new(),
                disks: Vec::new(),
            };
            match self.attach_locked(&mut disks, files, unused, &mut got)? {
                None => {
                    for &i in &got.disks {
                        disks[i].users += 1;
                    }
                    return Ok(got);
                }
                // A container that just ended may still be letting go of its disks (its
                // shim, the guest's mounts): the layers attached so far keep their disks.
                Some(_) if t0.elapsed() < RELEASE_WAIT => {}
                Some(f) => {
                    return Err(Error(format!(
                        "layer image {}: the pod's VM has no free disk (all {COUNT} hold layers its containers use)",
                        f.display()
                    )))
                }
            }
            drop(disks);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Attaches what it can of `files` into `got`; the first layer no disk was found for.
    fn attach_locked(
        &self,
        disks: &mut [Disk],
        files: &[PathBuf],
        ask: &UnusedDisks,
        got: &mut Attached,
    ) -> Result<Option<PathBuf>> {
        // Disks whose layer no container uses and the guest holds no more, asked once.
        let mut reusable: Option<Vec<usize>> = None;
        for f in files {
            let f =
                std::fs::canonicalize(f).map_err(io_err(format!("layer image {}", f.display())))?;
            if f.extension().and_then(|e| e.to_str()) != Some("erofs") {
                return Err(Error(format!(
                    "layer image {}: not an erofs layer image",
                    f.display()
                )));
            }
            let i = match disks.iter().position(|d| d.layer.as_deref() == Some(&f)) {
                Some(i) => i,
                None => {
                    let empty = disks.iter().position(|d| d.layer.is_none());
                    let i = match empty {
                        Some(i) => i,
                        None => {
                            if reusable.is_none() {
                                reusable = Some(reusable_disks(disks, &got.disks, ask)?);
                            }
                            match reusable.as_mut().and_then(Vec::pop) {
                                Some(i) => i,
                                None => return Ok(Some(f)),
                            }
                        }
                    };
                    pad(&f)?;
                    disks[i].node = self.swap(i, &f, &disks[i].node)?;
                    disks[i].layer = Some(f);
                    i
                }
            };
            got.serials.push(serial(i));
            if !got.disks.contains(&i) {
                got.disks.push(i);
            }
        }
        Ok(None)
    }

    /// A container's shim is gone: the disks it used are one user fewer.
    pub fn release(&self, used: &[usize]) {
        let mut disks = self.disks.lock().expect("slots lock");
        for &i in used {
            if let Some(d) = disks.get_mut(i) {
                d.users = d.users.saturating_sub(1);
            }
        }
    }

    /// Puts `file` behind spare disk `i` in place of the image of node `old`; the new node.
    fn swap(&self, i: usize, file: &Path, old: &str) -> Result<String> {
        let q = &self.qmp;
        let n = self
            .swaps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let node = format!("layer{i}-{n}");
        q.execute(
            "blockdev-add",
            json!({"driver": "file", "node-name": node, "filename": file, "read-only": true}),
        )?;
        q.execute(
            "blockdev-reopen",
            json!({"options": [{"driver": "raw", "node-name": format!("slot{i}"), "file": node, "read-only": true}]}),
        )?;
        // The image it replaced is closed (the placeholder's node, or an earlier layer's).
        let _ = q.execute("blockdev-del", json!({ "node-name": old }));
        Ok(node)
    }
}

/// The disks whose layer no container uses (`taken`, this attach's, aside) and on which
/// the guest holds no file system any more.
fn reusable_disks(disks: &[Disk], taken: &[usize], ask: &UnusedDisks) -> Result<Vec<usize>> {
    let idle: Vec<String> = (0..disks.len())
        .filter(|i| disks[*i].users == 0 && !taken.contains(i))
        .map(serial)
        .collect();
    if idle.is_empty() {
        return Ok(Vec::new());
    }
    let free = ask(&idle)?;
    // Popped from the end: the lowest-numbered disk goes first.
    let mut out: Vec<usize> = (0..disks.len())
        .filter(|i| free.contains(&serial(*i)))
        .collect();
    out.reverse();
    Ok(out)
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
        let ask = |_: &[String]| -> Result<Vec<String>> { unreachable!("no disk is asked for") };
        let slots = Slots::new(Arc::new(Shared::new(dir.path())));
        let err = slots.attach(&[other], &ask).unwrap_err();
        assert!(err.to_string().contains("not an erofs"), "{err}");
    }
}
