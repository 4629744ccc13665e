//! A stage's image so far: its layers, its config (docker's `config` object: Env, Cmd,
//! Entrypoint, WorkingDir, User, ExposedPorts, Labels, Volumes, StopSignal, Healthcheck,
//! Shell, OnBuild), its history, and the chain key that names the build up to this point in
//! the step cache. The image is written to the store only when a step needs one (a RUN or
//! COPY container) and at the end.

use crate::parse::{Command, Healthcheck, InstructionKind};
use crate::stages::Scope;
use serde_json::{json, Map, Value};
use strata_engine::Engine;
use strata_image::digest::Digest;
use strata_image::oci::Descriptor;
use strata_image::snapshot::Committed;
use strata_image::store::ImageRecord;

/// A stage being built.
#[derive(Debug, Clone)]
pub struct StageState {
    /// Its layers, bottom first.
    pub layers: Vec<Committed>,
    /// The config's `config` object.
    pub config: Value,
    /// The config's history.
    pub history: Vec<Value>,
    /// The image with exactly these layers and config, once written.
    pub image: Option<ImageRecord>,
    /// The step cache's key for the build so far.
    pub key: String,
    /// Variables in scope.
    pub scope: Scope,
    /// Whether this stage set CMD (an ENTRYPOINT then keeps it; else it clears the base's).
    cmd_set: bool,
    /// `SOURCE_DATE_EPOCH`: the time of history entries, of the image, and the latest file
    /// time in its new layers.
    pub epoch: Option<i64>,
}

/// The committed-layer form of an image's layer (what the image writer needs).
fn committed(l: &strata_image::store::LayerRecord) -> Committed {
    Committed {
        chain_id: l.chain_id.clone(),
        parent: None,
        lowers: vec![],
        diff_id: l.diff_id.clone(),
        blob: Descriptor {
            media_type: l.media_type.clone(),
            digest: l.digest.clone(),
            size: l.size,
            platform: None,
            annotations: None,
            urls: None,
        },
        created: String::new(),
    }
}

impl StageState {
    /// `FROM scratch`.
    pub fn scratch(_e: &Engine) -> Result<StageState, String> {
        Ok(StageState {
            layers: vec![],
            config: json!({}),
            history: vec![],
            image: None,
            key: Digest::of(b"scratch").hex().to_string(),
            scope: Scope::new('\\'),
            cmd_set: false,
            epoch: None,
        })
    }

    /// `FROM image`.
    pub fn from_image(e: &Engine, img: &ImageRecord) -> Result<StageState, String> {
        let mut st = Self::scratch(e)?;
        st.adopt(e, img)?;
        st.key = img.id.hex().to_string();
        Ok(st)
    }

    /// Takes `img`'s layers, config and history (a base image, or a step from the cache).
    pub fn adopt(&mut self, e: &Engine, img: &ImageRecord) -> Result<(), String> {
        let store = e.store().map_err(|err| err.to_string())?;
        let doc = strata_image::ops::config(&store, img).map_err(|err| err.to_string())?;
        self.layers = img.layers.iter().map(committed).collect();
        self.config = match doc.get("config") {
            Some(Value::Object(o)) => Value::Object(o.clone()),
            _ => json!({}),
        };
        self.history = doc["history"].as_array().cloned().unwrap_or_default();
        self.image = Some(img.clone());
        Ok(())
    }

    /// The config's Env as pairs.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.config["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Extends the chain key with a step (`extra`: what else it depends on).
    pub fn chain(&mut self, instruction: &str, extra: &str) {
        self.key = Digest::of(format!("{}\n{instruction}\n{extra}", self.key).as_bytes())
            .hex()
            .to_string();
    }

    /// The shell of shell-form commands.
    pub fn shell(&self) -> Vec<String> {
        match self.config["Shell"].as_array() {
            Some(a) if !a.is_empty() => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => vec!["/bin/sh".into(), "-c".into()],
        }
    }

    /// A command as the argv it runs.
    pub fn argv(&self, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut v = self.shell();
                v.push(s.clone());
                v
            }
        }
    }

    fn obj(&mut self, key: &str) -> &mut Map<String, Value> {
        if !self.config[key].is_object() {
            self.config[key] = json!({});
        }
        self.config[key].as_object_mut().expect("an object")
    }

    /// Now, or `SOURCE_DATE_EPOCH`.
    fn now(&self) -> String {
        match self.epoch {
            Some(t) => strata_os::clock::rfc3339(t, 0),
            None => strata_os::clock::rfc3339_now(),
        }
    }

    fn record(&mut self, original: &str, empty_layer: bool) {
        let mut h = json!({
            "created": self.now(),
            "created_by": format!("/bin/sh -c #(nop) {original}"),
            "comment": "strata build",
        });
        if empty_layer {
            h["empty_layer"] = json!(true);
        } else {
            h["created_by"] = json!(original);
        }
        self.history.push(h);
    }

    /// A config instruction (ENV, WORKDIR, USER, CMD, ...): the config and history change.
    pub fn apply_config(&mut self, kind: &InstructionKind, original: &str) -> Result<(), String> {
        use InstructionKind as K;
        match kind {
            K::Env(kvs) => {
                for kv in kvs {
                    let mut env: Vec<Value> =
                        self.config["Env"].as_array().cloned().unwrap_or_default();
                    let prefix = format!("{}=", kv.key);
                    env.retain(|v| !v.as_str().is_some_and(|s| s.starts_with(&prefix)));
                    env.push(json!(format!("{}={}", kv.key, kv.value)));
                    self.config["Env"] = json!(env);
                    self.scope.set_env(&kv.key, kv.value.clone());
                }
            }
            K::Workdir(p) => {
                let cur = self.config["WorkingDir"]
                    .as_str()
                    .unwrap_or("/")
                    .to_string();
                let next = if p.starts_with('/') {
                    p.clone()
                } else {
                    format!("{}/{p}", cur.trim_end_matches('/'))
                };
                self.config["WorkingDir"] = json!(next);
            }
            K::User(u) => self.config["User"] = json!(u),
            K::Entrypoint(c) => {
                self.config["Entrypoint"] = json!(self.argv(c));
                if !self.cmd_set {
                    self.config["Cmd"] = Value::Null;
                }
            }
            K::Cmd(c) => {
                self.config["Cmd"] = json!(self.argv(c));
                self.cmd_set = true;
            }
            K::Expose(ports) => {
                for p in ports {
                    let key = if p.contains('/') {
                        p.to_lowercase()
                    } else {
                        format!("{p}/tcp")
                    };
                    self.obj("ExposedPorts").insert(key, json!({}));
                }
            }
            K::Label(kvs) => {
                for kv in kvs {
                    self.obj("Labels").insert(kv.key.clone(), json!(kv.value));
                }
            }
            K::Volume(vs) => {
                for v in vs {
                    self.obj("Volumes").insert(v.clone(), json!({}));
                }
            }
            K::StopSignal(s) => self.config["StopSignal"] = json!(s),
            K::Shell(v) => self.config["Shell"] = json!(v),
            K::Healthcheck(h) => {
                self.config["Healthcheck"] = match h {
                    Healthcheck::None => json!({"Test": ["NONE"]}),
                    Healthcheck::Check {
                        command,
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                    } => {
                        let test = match command {
                            Command::Exec(v) => {
                                let mut t = vec!["CMD".to_string()];
                                t.extend(v.iter().cloned());
                                t
                            }
                            Command::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                        };
                        let ns = |d: &Option<std::time::Duration>| d.map(|d| d.as_nanos() as u64);
                        let mut o = json!({"Test": test});
                        for (k, v) in [
                            ("Interval", ns(interval)),
                            ("Timeout", ns(timeout)),
                            ("StartPeriod", ns(start_period)),
                            ("StartInterval", ns(start_interval)),
                        ] {
                            if let Some(v) = v {
                                o[k] = json!(v);
                            }
                        }
                        if let Some(r) = retries {
                            o["Retries"] = json!(r);
                        }
                        o
                    }
                }
            }
            K::Onbuild(i) => {
                let mut v: Vec<Value> = self.config["OnBuild"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                v.push(json!(i.original));
                self.config["OnBuild"] = json!(v);
            }
            K::Maintainer(m) => {
                self.obj("Labels").insert("maintainer".into(), json!(m));
            }
            other => return Err(format!("{} is not a config instruction", other.name())),
        }
        self.record(original, true);
        self.chain(original, "");
        self.image = None;
        Ok(())
    }

    /// A new layer on top (a RUN or COPY step's).
    pub fn push_layer(&mut self, layer: Committed, created_by: &str) {
        self.layers.push(layer);
        self.record(created_by, false);
        self.image = None;
    }

    /// The image of the build so far, written to the store if it is not yet.
    pub fn image(&mut self, e: &Engine) -> Result<ImageRecord, String> {
        if let Some(i) = &self.image {
            return Ok(i.clone());
        }
        let img = self.write(e, &[])?;
        self.image = Some(img.clone());
        Ok(img)
    }

    /// Writes the image; short `names` are `localhost/...`, as podman names what it builds.
    fn write(&self, e: &Engine, names: &[String]) -> Result<ImageRecord, String> {
        let store = e.store().map_err(|err| err.to_string())?;
        strata_image::assemble::image_at(
            &store,
            &self.layers,
            self.config.clone(),
            self.history.clone(),
            names,
            "localhost",
            &self.now(),
        )
        .map_err(|err| format!("{err} [layer: image]"))
    }

    /// The final image, under `names`.
    pub fn finish(&self, e: &Engine, names: &[String]) -> Result<ImageRecord, String> {
        self.write(e, names)
    }
}
