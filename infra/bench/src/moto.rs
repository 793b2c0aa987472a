//! Our own moto server (`infra/scripts/moto_serialized.py` from `infra/.venv`) on a free
//! 127.0.0.1 port, stopped when dropped.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Moto {
    /// Starts moto from the checkout at `root`, its output in `log`, and waits until it listens.
    pub fn start(root: &Path, log: &Path) -> Self {
        let port = free_port();
        let python = root.join("infra/.venv/bin/python");
        let script = root.join("infra/scripts/moto_serialized.py");
        let log = std::fs::File::create(log).expect("moto log file");
        let child = Command::new(&python)
            .arg(&script)
            .arg("127.0.0.1")
            .arg(port.to_string())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {} ({e}); run ./infra/test once to create infra/.venv", python.display()));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
