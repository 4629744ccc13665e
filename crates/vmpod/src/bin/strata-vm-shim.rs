//! `strata-vm-shim --bundle DIR --id ID --dir DIR [--console-socket PATH] [--stdin]`: a VM container's stand-in for its init
//! on the host (see `strata_vmpod::shim`).

fn main() {
    let mut it = std::env::args().skip(1);
    let (mut bundle, mut id, mut dir, mut console, mut stdin) = (None, None, None, None, false);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bundle" => bundle = it.next(),
            "--id" => id = it.next(),
            "--dir" => dir = it.next(),
            "--console-socket" => console = it.next(),
            "--stdin" => stdin = true,
            _ => {
                eprintln!("strata-vm-shim: unknown argument {a:?}");
                std::process::exit(125);
            }
        }
    }
    let (Some(bundle), Some(id), Some(dir)) = (bundle, id, dir) else {
        eprintln!("usage: strata-vm-shim --bundle DIR --id ID --dir DIR [--console-socket PATH] [--stdin]");
        std::process::exit(125);
    };
    let args = strata_vmpod::shim::Args {
        bundle: bundle.into(),
        id,
        dir: dir.into(),
        console: console.map(Into::into),
        stdin,
    };
    std::process::exit(strata_vmpod::shim::run(&args));
}
