//! The binary's commands: argument handling around the library.

pub mod argparse;
pub mod cli;
pub mod completion;
pub mod demo;
pub mod features;
pub mod process_args;
pub mod spec_default;
pub mod table;

use cli::{Cli, Command};
use std::io::Read;
use strata_runtime::container::{self, ops};
use strata_runtime::state::Root;
use strata_runtime::{Error, Result};

/// Runs the command; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    let root = Root::new(&cli.root);
    match cli.command {
        Command::Create(a) => {
            container::create(&root, &a)?;
            Ok(0)
        }
        Command::Run(a) => ops::run(&root, &a.create, a.detach, a.keep),
        Command::Start(a) => ops::start(&root, &a.id).map(|_| 0),
        Command::State(a) => {
            println!("{}", ops::state(&root, &a.id)?);
            Ok(0)
        }
        Command::Kill(a) => {
            let sig = container::signals::parse(&a.signal)?;
            ops::kill(&root, &a.id, sig, a.all).map(|_| 0)
        }
        Command::Delete(a) => ops::delete(&root, &a.id, a.force).map(|_| 0),
        Command::Exec(a) => {
            let o = process_args::exec_opts(&root, a)?;
            container::exec::exec(&root, &o)
        }
        Command::Ps(a) => ps(&root, &a),
        Command::Pause(a) => ops::pause(&root, &a.id, true).map(|_| 0),
        Command::Resume(a) => ops::pause(&root, &a.id, false).map(|_| 0),
        Command::Update(a) => {
            let r = process_args::resources(&a)?;
            ops::update(&root, &a.id, &r).map(|_| 0)
        }
        Command::List(a) => list(&root, &a),
        Command::Spec(a) => spec_default::write(&a.bundle, a.rootless).map(|_| 0),
        Command::Features => {
            println!("{}", features::document());
            Ok(0)
        }
        Command::Completion(a) => {
            print!("{}", completion::script(a.shell));
            Ok(0)
        }
        Command::Demo => demo::run(),
    }
}

/// Reads a file argument, `-` meaning stdin.
pub fn read_arg(p: &std::path::Path) -> Result<Vec<u8>> {
    if p == std::path::Path::new("-") {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| Error::io("read stdin", e))?;
        return Ok(v);
    }
    std::fs::read(p).map_err(|e| Error::io(format!("read {}", p.display()), e))
}

fn ps(root: &Root, a: &cli::PsArgs) -> Result<i32> {
    let pids = ops::pids(root, &a.id)?;
    if a.format == "json" {
        println!("{}", serde_json::to_string(&pids).unwrap_or_default());
        return Ok(0);
    }
    let args: Vec<String> = if a.ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::io("run ps", e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Ok(0);
    };
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Other("ps: output has no PID column".into()))?;
    println!("{header}");
    for l in lines {
        if let Some(pid) = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&pid) {
                println!("{l}");
            }
        }
    }
    Ok(0)
}

fn list(root: &Root, a: &cli::ListArgs) -> Result<i32> {
    let all = ops::list(root)?;
    if a.quiet {
        for s in &all {
            println!("{}", s.id);
        }
    } else if a.format == "json" {
        println!("{}", serde_json::to_string(&all).unwrap_or_default());
    } else {
        println!(
            "{:<24} {:<8} {:<10} {:<40} {:<32} OWNER",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for s in &all {
            println!(
                "{:<24} {:<8} {:<10} {:<40} {:<32} root",
                s.id, s.pid, s.status, s.bundle, s.created
            );
        }
    }
    Ok(0)
}
