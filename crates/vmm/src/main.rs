//! `strata-vmm`: boot a microVM from a JSON config file or command-line flags.
//!
//! Exit statuses: 0 guest powered off or reset, 1 VMM error, 2 bad configuration (nothing of
//! the guest ran), 3 guest triple fault, 4 KVM internal error, 5 unhandled exit or failed
//! entry, 6 guest panic, 70 VMM panic.

use clap::Parser;
use std::path::PathBuf;
use strata_vmm::api;
use strata_vmm::config::{BootSource, Drive, Entropy, NetIface, VmConfig, VsockConfig};
use strata_vmm::error::{Error, EXIT_VMM_PANIC};
use strata_vmm::security::seccomp::{self, ThreadKind};
use strata_vmm::snapshot::Snapshot;
use strata_vmm::vm::Vm;

/// A KVM microVM monitor. Boots an ELF (PVH or 64-bit entry) or bzImage kernel with an
/// optional initramfs; the guest's serial console goes to stdout. Exits 0 when the guest
/// powers off or resets (i8042 reset, as Firecracker), non-zero with a one-line error naming
/// the layer otherwise (2 config, 3 triple fault, 4 KVM internal error, 5 unhandled exit,
/// 6 guest panic, 70 VMM panic).
#[derive(Parser, Debug)]
#[command(name = "strata-vmm", version)]
struct Cli {
    /// JSON config file (Firecracker-style "boot-source" and "machine-config"); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Kernel image: ELF vmlinux (PVH note honoured) or bzImage.
    #[arg(long)]
    kernel: Option<PathBuf>,
    /// Initramfs to load.
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// Kernel command line.
    #[arg(long)]
    cmdline: Option<String>,
    /// Guest memory in MiB (default 128).
    #[arg(long)]
    mem: Option<u64>,
    /// Number of vCPUs (default 1).
    #[arg(long)]
    vcpus: Option<u8>,
    /// Serial console output: "stdout" (default), a file path, or unix:PATH (a listening
    /// unix socket the VMM connects to).
    #[arg(long)]
    serial: Option<String>,
    /// KVM device node.
    #[arg(long)]
    kvm: Option<PathBuf>,
    /// Add a virtio-blk drive: PATH[,ro] (repeatable).
    #[arg(long, value_name = "PATH[,ro]")]
    drive: Vec<String>,
    /// Add a virtio-net device on an existing TAP: TAP[,MAC] (repeatable).
    #[arg(long, value_name = "TAP[,MAC]")]
    net: Vec<String>,
    /// Add a virtio-vsock device: CID,UDS_PATH (host side on unix sockets, Firecracker style).
    #[arg(long, value_name = "CID,UDS_PATH")]
    vsock: Option<String>,
    /// Add a virtio-rng device.
    #[arg(long)]
    rng: bool,
    /// Serve the REST API on this unix socket (see docs/openapi.yaml); with a kernel or
    /// --restore the VM also starts at once.
    #[arg(long)]
    api_sock: Option<PathBuf>,
    /// Restore and resume a VM from a snapshot file written by PUT /snapshot/create.
    #[arg(long)]
    restore: Option<PathBuf>,
    /// Do not install the per-thread seccomp filters (debugging only).
    #[arg(long)]
    no_seccomp: bool,
    /// Log level (error, warn, info, debug, trace); logs go to stderr.
    #[arg(long, default_value = "warn")]
    log_level: String,
}

fn build_config(cli: &Cli) -> Result<VmConfig, Error> {
    let mut cfg = match &cli.config {
        Some(p) => VmConfig::from_file(p)?,
        None => VmConfig::default(),
    };
    if let Some(k) = &cli.kernel {
        cfg.boot_source
            .get_or_insert_with(BootSource::default)
            .kernel_image_path = k.clone();
    }
    if let Some(i) = &cli.initrd {
        cfg.boot_source
            .get_or_insert_with(BootSource::default)
            .initrd_path = Some(i.clone());
    }
    if let Some(c) = &cli.cmdline {
        cfg.boot_source
            .get_or_insert_with(BootSource::default)
            .boot_args = Some(c.clone());
    }
    if let Some(m) = cli.mem {
        cfg.machine_config.mem_size_mib = m;
    }
    if let Some(v) = cli.vcpus {
        cfg.machine_config.vcpu_count = v;
    }
    if let Some(s) = &cli.serial {
        cfg.serial_output = Some(s.clone());
    }
    if let Some(k) = &cli.kvm {
        cfg.kvm_path = Some(k.clone());
    }
    for (i, d) in cli.drive.iter().enumerate() {
        let (path, ro) = match d.strip_suffix(",ro") {
            Some(p) => (p, true),
            None => (d.as_str(), false),
        };
        cfg.drives.push(Drive {
            drive_id: format!("drive{i}"),
            path_on_host: path.into(),
            is_read_only: ro,
            is_root_device: false,
        });
    }
    for (i, n) in cli.net.iter().enumerate() {
        let (tap, mac) = match n.split_once(',') {
            Some((t, m)) => (t, Some(m.to_string())),
            None => (n.as_str(), None),
        };
        cfg.network_interfaces.push(NetIface {
            iface_id: format!("net{i}"),
            host_dev_name: tap.to_string(),
            guest_mac: mac,
        });
    }
    if let Some(v) = &cli.vsock {
        let (cid, path) = v
            .split_once(',')
            .ok_or_else(|| Error::Config(format!("vsock {v}: expected CID,UDS_PATH")))?;
        let guest_cid = cid
            .parse()
            .map_err(|_| Error::Config(format!("vsock {v}: bad cid {cid}")))?;
        cfg.vsock = Some(VsockConfig {
            vsock_id: None,
            guest_cid,
            uds_path: path.into(),
        });
    }
    if cli.rng {
        cfg.entropy = Some(Entropy {});
    }
    if cli.no_seccomp {
        cfg.seccomp = false;
    }
    Ok(cfg)
}

fn run(cli: &Cli) -> Result<(), Error> {
    let cfg = build_config(cli)?;
    if let Some(sock) = &cli.api_sock {
        let listener = api::server::bind(sock)?;
        let mut state = api::server::ApiState {
            config: cfg.clone(),
            running: None,
            socket: sock.clone(),
            stop_after_response: false,
        };
        if let Some(snap) = &cli.restore {
            state.restore(&Snapshot::load(snap)?, false)?;
        } else if cfg.boot_source.is_some() {
            state.start()?;
        }
        return api::server::serve(listener, state, cfg.seccomp);
    }
    let (vm, seccomp_on) = match &cli.restore {
        Some(snap) => {
            let t0 = std::time::Instant::now();
            let s = Snapshot::load(snap)?;
            let on = s.config.seccomp && cfg.seccomp;
            let vm = Vm::restore(&s)?;
            tracing::info!(
                "snapshot {}: restored in {:?}",
                snap.display(),
                t0.elapsed()
            );
            (vm, on)
        }
        None => (Vm::build(&cfg)?, cfg.seccomp),
    };
    let running = vm.start()?;
    if seccomp_on {
        seccomp::apply(&seccomp::filter(ThreadKind::Main)?)?;
    }
    running.wait()
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("strata-vmm: vmm panic: {info}");
        std::process::exit(EXIT_VMM_PANIC);
    }));
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let r = run(&cli);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    match r {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("strata-vmm: {e}");
            std::process::exit(e.exit_status());
        }
    }
}
