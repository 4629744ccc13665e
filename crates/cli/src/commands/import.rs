//! `import`: a root filesystem tarball (as `export` writes it, from a file or stdin) as a
//! one-layer image, with `--change` for its config (CMD, ENTRYPOINT, ENV, WORKDIR, USER,
//! EXPOSE, LABEL, STOPSIGNAL, as docker import takes them).

use crate::Global;
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

/// `import`'s options.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A Dockerfile instruction for the image's config (CMD, ENTRYPOINT, ENV, WORKDIR, USER,
    /// EXPOSE, LABEL, STOPSIGNAL).
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Print only the image id.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// The tarball (`-` for stdin).
    pub file: String,
    /// The name to give the image.
    pub reference: Option<String>,
}

/// A JSON array (`["sh", "-c"]`) or a shell form run by `/bin/sh -c`.
fn command(v: &str) -> Value {
    match serde_json::from_str::<Vec<String>>(v.trim()) {
        Ok(a) => json!(a),
        Err(_) => json!(["/bin/sh", "-c", v.trim()]),
    }
}

/// The config object `--change` instructions describe.
pub fn config_of(changes: &[String]) -> Result<Value> {
    let mut c = Map::new();
    for ch in changes {
        let (inst, arg) = ch
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((ch.trim(), ""));
        let arg = arg.trim();
        match inst.to_ascii_uppercase().as_str() {
            "CMD" => {
                c.insert("Cmd".into(), command(arg));
            }
            "ENTRYPOINT" => {
                c.insert("Entrypoint".into(), command(arg));
            }
            "ENV" => {
                let kv = match arg.split_once(['=', ' ']) {
                    Some((k, v)) => format!("{k}={}", v.trim()),
                    None => bail!("--change {ch:?}: ENV needs KEY=VALUE"),
                };
                c.entry("Env").or_insert_with(|| json!([])).as_array_mut().expect("array").push(json!(kv));
            }
            "WORKDIR" => {
                c.insert("WorkingDir".into(), json!(arg));
            }
            "USER" => {
                c.insert("User".into(), json!(arg));
            }
            "STOPSIGNAL" => {
                c.insert("StopSignal".into(), json!(arg));
            }
            "EXPOSE" => {
                let ports = c.entry("ExposedPorts").or_insert_with(|| json!({}));
                for p in arg.split_whitespace() {
                    let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                    ports[p] = json!({});
                }
            }
            "LABEL" => {
                let labels = c.entry("Labels").or_insert_with(|| json!({}));
                let (k, v) = arg.split_once('=').unwrap_or((arg, ""));
                labels[k.trim_matches('"')] = json!(v.trim_matches('"'));
            }
            other => bail!("--change {ch:?}: {other} is not a config instruction (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, STOPSIGNAL)"),
        }
    }
    if !c.contains_key("Env") {
        c.insert(
            "Env".into(),
            json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
        );
    }
    Ok(Value::Object(c))
}

/// `import`.
pub fn import(g: &Global, a: ImportArgs) -> Result<i32> {
    let store = super::open_store(g)?;
    let reg = super::default_registry(g)?;
    let config = config_of(&a.change)?;
    let names: Vec<String> = a.reference.iter().cloned().collect();
    let rec = if a.file == "-" {
        strata_image::assemble::import(&store, std::io::stdin().lock(), config, &names, &reg)
    } else {
        let f = std::fs::File::open(&a.file).with_context(|| format!("import {}", a.file))?;
        strata_image::assemble::import(&store, std::io::BufReader::new(f), config, &names, &reg)
    }
    .with_context(|| format!("import {}", a.file))?;
    println!(
        "{}",
        if a.quiet {
            rec.id.hex().to_string()
        } else {
            format!("sha256:{}", rec.id.hex())
        }
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_make_the_config() {
        let c = config_of(&[
            "CMD [\"sh\"]".into(),
            "ENV A=1".into(),
            "EXPOSE 80".into(),
            "WORKDIR /srv".into(),
        ])
        .unwrap();
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["Env"], json!(["A=1"]));
        assert_eq!(c["ExposedPorts"]["80/tcp"], json!({}));
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(
            config_of(&["CMD echo hi".into()]).unwrap()["Cmd"],
            json!(["/bin/sh", "-c", "echo hi"])
        );
        assert!(config_of(&["RUN x".into()]).is_err());
    }
}
