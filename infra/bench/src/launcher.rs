//! Function processes: where each binary is, and each started the way Lambda starts an
//! instance, against a Runtime API stand-in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::runtime_api::RuntimeApi;
use crate::world::World;

/// Where each function's binary is: `<dir>/<binary>` (a cargo target directory), or, from
/// `sam build`, `<dir>/<LogicalId>/bootstrap` with the logical id whose
/// `Metadata.BuildProperties.Binary` names the binary in template.yaml.
pub struct Binaries {
    dir: PathBuf,
    logical_ids: Option<HashMap<String, String>>,
}

impl Binaries {
    pub fn cargo(dir: PathBuf) -> Self {
        Self { dir, logical_ids: None }
    }

    pub fn sam(dir: PathBuf, template: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(template).map_err(|e| format!("cannot read {}: {e}", template.display()))?;
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", template.display()))?;
        let resources = doc.get("Resources").and_then(serde_yaml::Value::as_mapping).ok_or("template.yaml has no Resources")?;
        let logical_ids = resources
            .iter()
            .filter_map(|(id, r)| {
                let binary = r.get("Metadata")?.get("BuildProperties")?.get("Binary")?.as_str()?;
                Some((binary.to_owned(), id.as_str()?.to_owned()))
            })
            .collect();
        Ok(Self { dir, logical_ids: Some(logical_ids) })
    }

    pub fn path(&self, binary: &str) -> PathBuf {
        match &self.logical_ids {
            None => self.dir.join(binary),
            Some(ids) => self.dir.join(ids.get(binary).map_or(binary, String::as_str)).join("bootstrap"),
        }
    }
}

/// Starts function processes from `binaries`, each writing its output to a file in `log_dir`.
pub struct Launcher {
    pub binaries: Binaries,
    /// A command in front of each binary (`qemu-aarch64-static`, `strace -f -tt -o /tmp/trace`).
    pub wrap: Option<String>,
    pub log_dir: PathBuf,
}

/// A running function process, killed when dropped.
pub struct Instance(Child);

impl Instance {
    /// A field of `/proc/<pid>/status` in kB (`VmHWM`: peak RSS, `VmRSS`).
    pub fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field).map(|rest| rest.trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().unwrap_or(0)))
            .unwrap_or(0)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Launcher {
    /// Starts `binary` against `api` with the world's variables, the `AWS_LAMBDA_*` ones and
    /// `extra_env`; its output goes to `<log_dir>/<log>`.
    pub fn spawn(&self, w: &World, api: &RuntimeApi, binary: &str, log: &str, extra_env: &[(String, String)]) -> Result<Instance, String> {
        let bin = self.binaries.path(binary);
        let log = std::fs::File::create(self.log_dir.join(log)).map_err(|e| e.to_string())?;
        let mut cmd = match &self.wrap {
            Some(wrapper) => {
                let mut parts = wrapper.split_whitespace();
                let mut c = Command::new(parts.next().unwrap_or("env"));
                c.args(parts).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        cmd.env_clear()
            .envs(w.function_env())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", binary)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{binary}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        Ok(Instance(child))
    }

    /// [`Self::spawn`], then waits for its first `/next` poll; returns the instance and its cold
    /// start (spawn → first poll).
    pub async fn start(&self, w: &World, api: &RuntimeApi, binary: &str, log: &str, extra_env: &[(String, String)]) -> Result<(Instance, Duration), String> {
        let t0 = Instant::now();
        let mut instance = self.spawn(w, api, binary, log, extra_env)?;
        let mut polled = api.first_poll();
        let first = loop {
            tokio::select! {
                r = polled.wait_for(Option::is_some) => break r.map_err(|_| "runtime API gone".to_owned())?.expect("some"),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {
                    if let Ok(Some(status)) = instance.0.try_wait() {
                        let init = api.init_error().unwrap_or_default();
                        return Err(format!("{binary} exited during init ({status}) {init}; see {}", self.log_dir.display()));
                    }
                    if t0.elapsed() > Duration::from_secs(30) {
                        return Err(format!("{binary} did not poll within 30 s"));
                    }
                }
            }
        };
        Ok((instance, first - t0))
    }

    /// One instance of `binary` on a Runtime API of its own, polling for its first event.
    pub async fn start_with_api(&self, w: &World, binary: &str, log: &str) -> Result<(RuntimeApi, Instance), String> {
        let api = RuntimeApi::start().await;
        let (instance, _) = self.start(w, &api, binary, log, &[]).await?;
        Ok((api, instance))
    }
}
