//! `describe`: a container's stack by layer (App, Container, Pod, Node, VM, Hypervisor).

use super::open_engine;
use crate::Global;
use anyhow::Result;
use strata_engine::container::stop;

/// `describe`'s options.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// Output: json, or the text view (default).
    #[arg(long)]
    pub format: Option<String>,
    /// The container.
    pub container: String,
}

/// `describe`.
pub fn describe(g: &Global, a: DescribeArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let c = stop::load(&e, &a.container)?;
    let d = strata_engine::describe::describe(&e, &c);
    match a.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&d)?),
        Some(t) => println!("{}", crate::format::render(t, &d)),
        None => print!("{}", strata_engine::describe::render::text(&d)),
    }
    Ok(0)
}
