//! Layer disks of a pod's VM: a pod's containers bring image layers the VM did not boot
//! with. Each layer becomes a read-only SCSI disk on the pod VM's controller
//! ([`crate::scsi`]), hot-plugged over QMP (`blockdev-add`, `device_add scsi-hd`) the first
//! time a container needs one, up to [`MAX`]: a VM pays only for the disks its containers
//! used (a virtio-blk disk costs QEMU ~180 KiB, most of it the 1024 queue slots every virtio
//! device has, and one transport of microvm's 24; a SCSI disk ~70 KiB and none). A layer
//! attached once serves every container of the pod that uses it and stays for the next
//! (the guest keeps its pages cached); once none uses it and the guest has let go of the
//! disk, another layer can go behind that disk (`blockdev-add` and `blockdev-reopen`), its
//! image padded sparsely to the same size so the guest's idea of the disk's size holds. The
//! guest drops what it cached of the disk before mounting it.

use crate::qmp::Shared;
use crate::{io_err, Error, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Layer disks a pod VM takes at most: the distinct layers its running containers use at
/// once (images of ten layers and more are common).
pub const MAX: usize = 16;
/// Every layer disk's size, and the largest layer image one can take.
pub const SIZE: u64 = 16 << 30;
/// How long a disk whose layer no container uses may take to be let go of in the guest.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Layer disk `i`'s serial (and its QEMU device id and disk node name).
pub fn serial(i: usize) -> String {
    format!("slot{i}")
}

/// Where the guest finds layer disk `i`: the SCSI disk of that serial.
pub fn source(i: usize) -> String {
    format!("scsi:{}", serial(i))
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

/// Asks the guest which of some disks (by [`source`]) it holds no file system on any more.
pub type UnusedDisks<'a> = dyn Fn(&[String]) -> Result<Vec<String>> + 'a;

/// One layer disk: its number (its serial's: a number a failed hot-plug took is not used
/// again, as QEMU may hold its names still), the QEMU node of the image behind it, the
/// layer it holds, and how many of the pod's containers (their shims' proxy connections)
/// use that layer.
struct Disk {
    id: usize,
    node: String,
    layer: PathBuf,
    users: usize,
}

/// What a container's shim attached: where the guest finds its layers' disks (lowest
/// layer first), and the disks it uses until it goes ([`Slots::release`]).
#[derive(Debug)]
pub struct Attached {
    /// The disks' [`source`]s, lowest layer first.
    pub serials: Vec<String>,
    /// The disks, by their place in the VM's list, each once.
    pub disks: Vec<usize>,
}

/// The layer disks of one VM and the layers they hold. A layer no container uses any more
/// keeps its disk (the next container of that image finds it there) until a new layer needs
/// a disk and [`MAX`] are there: then a disk the guest has no file system on any more takes
/// it.
pub struct Slots {
    qmp: Arc<Shared>,
    disks: Mutex<Vec<Disk>>,
    swaps: std::sync::atomic::AtomicU64,
    /// The next disk number.
    next_id: std::sync::atomic::AtomicUsize,
}

impl Slots {
    /// The layer disks of the VM behind `qmp` (none yet).
    pub fn new(qmp: Arc<Shared>) -> Slots {
        Slots {
            qmp,
            disks: Mutex::new(Vec::new()),
            swaps: Default::default(),
            next_id: Default::default(),
        }
    }

    /// Attaches the layer images `files` (lowest first) for one container: a layer already
    /// attached keeps its disk. `unused` asks the guest which of some disks it holds no file
    /// system on any more, when [`MAX`] are there.
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
                        "layer image {}: the pod's VM has no free disk (all {MAX} hold layers its containers use)",
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
        disks: &mut Vec<Disk>,
        files: &[PathBuf],
        ask: &UnusedDisks,
        got: &mut Attached,
    ) -> Result<Option<PathBuf>> {
        let mut wanted = Vec::with_capacity(files.len());
        for f in files {
            let f =
                std::fs::canonicalize(f).map_err(io_err(format!("layer image {}", f.display())))?;
            if f.extension().and_then(|e| e.to_str()) != Some("erofs") {
                return Err(Error(format!(
                    "layer image {}: not an erofs layer image",
                    f.display()
                )));
            }
            wanted.push(f);
        }
        // Disks whose layer no container uses (nor this one) and the guest holds no more,
        // asked once.
        let mut reusable: Option<Vec<usize>> = None;
        for f in &wanted {
            let i = match disks.iter().position(|d| &d.layer == f) {
                Some(i) => i,
                None if disks.len() < MAX => {
                    pad(f)?;
                    let id = self
                        .next_id
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let node = self.plug(id, f)?;
                    disks.push(Disk {
                        id,
                        node,
                        layer: f.clone(),
                        users: 0,
                    });
                    disks.len() - 1
                }
                None => {
                    if reusable.is_none() {
                        reusable = Some(reusable_disks(disks, &wanted, ask)?);
                    }
                    let Some(i) = reusable.as_mut().and_then(Vec::pop) else {
                        return Ok(Some(f.clone()));
                    };
                    pad(f)?;
                    disks[i].node = self.swap(disks[i].id, f, &disks[i].node)?;
                    disks[i].layer = f.clone();
                    i
                }
            };
            got.serials.push(source(disks[i].id));
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

    /// Opens `file` read-only in QEMU as a new node for disk `i`; the node's name.
    fn open(&self, i: usize, file: &Path) -> Result<String> {
        let n = self
            .swaps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let node = format!("layer{i}-{n}");
        self.qmp.execute(
            "blockdev-add",
            json!({"driver": "file", "node-name": node, "filename": file, "read-only": true}),
        )?;
        Ok(node)
    }

    /// Hot-plugs layer disk `i` with `file` behind it; the node of the file.
    fn plug(&self, i: usize, file: &Path) -> Result<String> {
        let q = &self.qmp;
        let node = self.open(i, file)?;
        let disk = serial(i);
        let plugged = q
            .execute(
                "blockdev-add",
                json!({"driver": "raw", "node-name": disk, "file": node, "read-only": true}),
            )
            .and_then(|_| crate::scsi::plug(q, &disk));
        if let Err(e) = plugged {
            let _ = q.execute("blockdev-del", json!({ "node-name": node }));
            return Err(Error(format!("layer image {}: {e}", file.display())));
        }
        Ok(node)
    }

    /// Puts `file` behind layer disk `i` in place of the image of node `old`; the new node.
    fn swap(&self, i: usize, file: &Path, old: &str) -> Result<String> {
        let q = &self.qmp;
        let node = self.open(i, file)?;
        let reopened = q.execute(
            "blockdev-reopen",
            json!({"options": [{"driver": "raw", "node-name": serial(i), "file": node, "read-only": true}]}),
        );
        if let Err(e) = reopened {
            let _ = q.execute("blockdev-del", json!({ "node-name": node }));
            return Err(e);
        }
        // The image it replaced is closed.
        let _ = q.execute("blockdev-del", json!({ "node-name": old }));
        Ok(node)
    }
}

/// The disks (by place) whose layer no container uses, nor the attaching one (`wanted`),
/// and on which the guest holds no file system any more.
fn reusable_disks(disks: &[Disk], wanted: &[PathBuf], ask: &UnusedDisks) -> Result<Vec<usize>> {
    let idle = |d: &Disk| d.users == 0 && !wanted.contains(&d.layer);
    let asked: Vec<String> = disks
        .iter()
        .filter(|d| idle(d))
        .map(|d| source(d.id))
        .collect();
    if asked.is_empty() {
        return Ok(Vec::new());
    }
    let free = ask(&asked)?;
    // Popped from the end: the first disk goes first.
    let mut out: Vec<usize> = (0..disks.len())
        .filter(|&i| idle(&disks[i]) && free.contains(&source(disks[i].id)))
        .collect();
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A QMP server standing for QEMU in `dir`: it answers every command with success (but
    /// the first `device_add` with an error if `fail_first_plug`) and records each; the
    /// commands so far.
    fn fake_qemu(dir: &Path, fail_first_plug: bool) -> Arc<Mutex<Vec<serde_json::Value>>> {
        use std::io::{BufRead, Write};
        let seen = Arc::new(Mutex::new(Vec::new()));
        let l = std::os::unix::net::UnixListener::bind(dir.join(crate::qmp::SOCKET)).unwrap();
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            let Ok((mut w, _)) = l.accept() else { return };
            let r = std::io::BufReader::new(w.try_clone().unwrap());
            let _ = w.write_all(b"{\"QMP\": {}}\n");
            let mut fail = fail_first_plug;
            for line in r.lines().map_while(|l| l.ok()) {
                let c: serde_json::Value = serde_json::from_str(&line).unwrap();
                let answer: &[u8] = match c["execute"] == "device_add" && fail {
                    true => b"{\"error\": {\"desc\": \"no\"}}\n",
                    false => b"{\"return\": {}}\n",
                };
                fail &= c["execute"] != "device_add";
                log.lock().unwrap().push(c);
                let _ = w.write_all(answer);
            }
        });
        seen
    }

    /// `n` layer images in `dir` named `NAME0.erofs`..
    fn images(dir: &Path, name: &str, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let p = dir.join(format!("{name}{i}.erofs"));
                std::fs::write(&p, b"erofs").unwrap();
                p
            })
            .collect()
    }

    #[test]
    fn a_reused_disk_is_never_one_the_container_itself_needs() {
        let dir = tempfile::tempdir().unwrap();
        let seen = fake_qemu(dir.path(), false);
        let slots = Slots::new(Arc::new(Shared::new(dir.path())));
        let all_free = |asked: &[String]| -> Result<Vec<String>> { Ok(asked.to_vec()) };
        // 16 layers hot-plugged, then no container uses them.
        let old = images(dir.path(), "old", MAX);
        let first = slots.attach(&old, &all_free).unwrap();
        assert_eq!(first.serials[3], "scsi:slot3");
        let plugs = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c["execute"] == "device_add")
            .count();
        assert_eq!(plugs, MAX);
        slots.release(&first.disks);
        // New layers, then one already on disk 5, then another new one: the new ones take
        // idle disks, never disk 5, which the container uses.
        let new = images(dir.path(), "new", 6);
        let mut files = new[..5].to_vec();
        files.push(old[5].clone());
        files.push(new[5].clone());
        let got = slots.attach(&files, &all_free).unwrap();
        assert_eq!(got.serials[5], "scsi:slot5");
        let mut distinct = got.serials.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), files.len(), "{:?}", got.serials);
        // A disk the guest says is free but that was not asked about is not taken.
        slots.release(&got.disks);
        let liar = |_: &[String]| -> Result<Vec<String>> { Ok(vec!["scsi:slot99".into()]) };
        let err = slots.attach(&images(dir.path(), "more", 1), &liar);
        assert!(err.is_err());
    }

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

    #[test]
    fn a_failed_hot_plug_takes_its_names_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let seen = fake_qemu(dir.path(), true);
        let slots = Slots::new(Arc::new(Shared::new(dir.path())));
        let none = |_: &[String]| -> Result<Vec<String>> { unreachable!("disks are left") };
        let img = images(dir.path(), "l", 1);
        assert!(slots.attach(&img, &none).is_err());
        // Its nodes were let go of, and the next disk has names of its own.
        let dels: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c["execute"] == "blockdev-del")
            .map(|c| c["arguments"]["node-name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(dels, ["slot0", "layer0-0"]);
        assert_eq!(slots.attach(&img, &none).unwrap().serials, ["scsi:slot1"]);
    }
}
