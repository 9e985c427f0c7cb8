//! Cloud storage emulators on 127.0.0.1, each started as a child process on a free port: Azurite (npm) for
//! Azure. `scripts/install-emulators.sh` installs it under `~/.cache/dv-emulators` (scripts/test.sh runs it
//! first); `DV_EMULATORS_BIN` names another folder holding `azurite-blob`.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Azurite's well-known development account and key (public, the same for every Azurite).
pub const AZURE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub struct Emulator {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of an installed emulator program, or a panic that says how to install it.
fn program(name: &str) -> PathBuf {
    let dir = std::env::var_os("DV_EMULATORS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/dv-emulators/bin")
        });
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{name} is not installed (looked for {}): run `bash scripts/install-emulators.sh` \
         (scripts/test.sh runs it before the tests), or set DV_EMULATORS_BIN to a folder holding it",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Spawns `command` so that it is killed when the test process ends, however it ends: a shared emulator lives
/// in a static, whose destructor never runs. Linux delivers the parent-death signal when the spawning *thread*
/// ends, so the spawn happens on a thread that lives as long as the process.
fn spawn_tied_to_this_process(mut command: Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child being started.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tx.send(command.spawn()).unwrap();
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap()
}

impl Emulator {
    /// Starts `name` with `args(port)`, then waits until it accepts connections on 127.0.0.1.
    fn start(name: &str, args: impl Fn(u16, &std::path::Path) -> Vec<String>) -> Emulator {
        let program = program(name);
        // A port picked free can be taken before the emulator binds it: try a few.
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("log")).unwrap();
            let mut command = Command::new(&program);
            command
                .args(args(port, dir.path()))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            let child = spawn_tied_to_this_process(command)
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
            let mut emulator = Emulator { child, port, dir };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return emulator;
                }
                if emulator.child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!("{name} did not start on port {port}:\n{}", emulator.log());
        }
        panic!("{name} did not start");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Azurite's blob service, in memory, without telemetry.
    pub fn azurite() -> Emulator {
        Emulator::start("azurite-blob", |port, _| {
            [
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--inMemoryPersistence",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ]
            .map(String::from)
            .to_vec()
        })
    }

    /// Creates an Azure container, with a request signed by the development key (node does the HMAC).
    pub fn azure_container(&self, name: &str) {
        let script = r#"
const crypto = require('crypto'), http = require('http');
const [port, account, key, container] = process.argv.slice(-4);
const date = new Date().toUTCString(), version = '2021-08-06', path = `/${account}/${container}`;
const toSign = ['PUT', '', '', '', '', '', '', '', '', '', '', '',
  `x-ms-date:${date}\nx-ms-version:${version}\n/${account}${path}\nrestype:container`].join('\n');
const signature = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(toSign, 'utf8').digest('base64');
const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: `${path}?restype=container`,
  headers: { 'x-ms-date': date, 'x-ms-version': version, 'Content-Length': 0,
    Authorization: `SharedKey ${account}:${signature}` } }, (res) => {
  let body = ''; res.on('data', (d) => body += d);
  res.on('end', () => { if (res.statusCode !== 201) { console.error(res.statusCode, body); process.exit(1); } });
});
req.on('error', (e) => { console.error(e.message); process.exit(1); });
req.end();
"#;
        let out = Command::new("node")
            .args([
                "-e",
                script,
                "--",
                &self.port.to_string(),
                AZURE_ACCOUNT,
                AZURE_KEY,
                name,
            ])
            .output()
            .expect("node runs (Azurite needs it too)");
        assert!(
            out.status.success(),
            "creating container {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
