//! A real sshd on 127.0.0.1 for tests of the ssh module itself (as root):
//! libssh2 logging in, a command's limits.
use super::scratch::Scratch;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `ssh-keygen ARGS FILE`; returns what it printed, panics if it failed.
pub fn ssh_keygen(args: &[&str], file: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(args)
        .arg(file)
        .output()
        .expect("ssh-keygen (apt install openssh-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An sshd on 127.0.0.1 that accepts the keys in one authorized_keys file;
/// killed when dropped.
pub struct Sshd {
    child: Child,
    pub addr: SocketAddr,
}

impl Sshd {
    pub fn start(dir: &Scratch, authorized_keys: &Path) -> Sshd {
        let host_key = dir.path("host_key");
        ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-f"], &host_key);
        // A port nothing listens on now (another process could take it
        // before sshd does: the wait below would then fail the test).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1:{port}\nHostKey {}\nAuthorizedKeysFile {}\n\
                 StrictModes no\nPidFile none\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
                host_key.display(),
                authorized_keys.display()
            ),
        )
        .unwrap();
        // sshd will not start without its privilege separation directory,
        // which only its service (or a lab host before) made on this
        // machine: a fresh one has none.
        std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/sbin/sshd (apt install openssh-server)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let sshd = Sshd { child, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    /// A connection logged in as root with `key`, whose blocking steps may
    /// each take `timeout`.
    pub fn login(&self, key: &Path, timeout: Duration) -> Result<rccr::ssh::Connection, String> {
        let conn = rccr::ssh::Connection::open(self.addr, timeout).map_err(|e| e.to_string())?;
        conn.authenticate("root", key).map_err(|e| e.to_string())?;
        Ok(conn)
    }

    pub fn logs_in(&self, key: &Path) -> bool {
        self.login(key, Duration::from_secs(10)).is_ok()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
