//! A small client of wpa_supplicant's control interface (paper §3.6): a Unix datagram socket
//! bound in camward's own 0700 directory and connected to `ctrl/<interface>`, as `wpa_cli` does.
//! One connection sends commands (`STATUS`, `REAUTHENTICATE`, `TERMINATE`, and `CTRL-RSP-PASSWORD`
//! answering the supplicant's request for the password); a second one is
//! `ATTACH`ed and receives the events, so replies and events never interleave.

use crate::message::MAX_MESSAGE;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixDatagram;

/// How long a command waits for its reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum CtrlError {
    #[error("cannot reach wpa_supplicant's control socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("wpa_supplicant did not answer {command} within {REPLY_TIMEOUT:?}")]
    Timeout { command: String },
    #[error("wpa_supplicant refused {command}: {reply}")]
    Refused { command: String, reply: String },
}

/// One connection to the control socket. Its local socket file is removed on drop.
pub struct Ctrl {
    sock: UnixDatagram,
    local: PathBuf,
}

impl Ctrl {
    /// Binds `local` (replacing a stale file) and connects to `server`.
    pub fn connect(server: &Path, local: PathBuf) -> Result<Ctrl, CtrlError> {
        let _ = std::fs::remove_file(&local);
        let err = |source| CtrlError::Connect {
            path: server.to_owned(),
            source,
        };
        let sock = UnixDatagram::bind(&local).map_err(err)?;
        let ctrl = Ctrl { sock, local };
        ctrl.sock.connect(server).map_err(err)?;
        Ok(ctrl)
    }

    /// Sends `command` and returns the reply, skipping unsolicited messages.
    pub async fn request(&self, command: &str) -> Result<String, CtrlError> {
        self.request_as(command, command).await
    }

    /// Like [`request`](Self::request), but errors name the command as `shown`: for commands
    /// that carry a secret (`CTRL-RSP-PASSWORD-0:…`), so no error message ever holds it.
    pub async fn request_as(&self, command: &str, shown: &str) -> Result<String, CtrlError> {
        self.sock.send(command.as_bytes()).await?;
        let mut buf = vec![0u8; MAX_MESSAGE];
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        // Bounded: each pass either returns or consumes one event; the deadline ends the loop.
        loop {
            let n = tokio::time::timeout_at(deadline, self.sock.recv(&mut buf))
                .await
                .map_err(|_| CtrlError::Timeout {
                    command: shown.to_owned(),
                })??;
            let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
            if crate::message::unsolicited(&reply).is_none() {
                return Ok(reply);
            }
        }
    }

    /// Sends a command whose reply must be `OK`.
    pub async fn command_ok(&self, command: &str) -> Result<(), CtrlError> {
        self.command_ok_as(command, command).await
    }

    /// [`command_ok`](Self::command_ok) with errors naming the command as `shown`.
    pub async fn command_ok_as(&self, command: &str, shown: &str) -> Result<(), CtrlError> {
        let reply = self.request_as(command, shown).await?;
        if reply.trim_end() == "OK" {
            Ok(())
        } else {
            Err(CtrlError::Refused {
                command: shown.to_owned(),
                reply: reply.trim_end().chars().take(200).collect(),
            })
        }
    }

    /// `ATTACH`: from now on this connection receives events; read them with [`recv`](Self::recv).
    pub async fn attach(&self) -> Result<(), CtrlError> {
        self.command_ok("ATTACH").await
    }

    /// The next message (an event on an attached connection).
    pub async fn recv(&self) -> Result<String, CtrlError> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let n = self.sock.recv(&mut buf).await?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for Ctrl {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.local);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in server answering like wpa_supplicant: events before the reply are skipped.
    #[tokio::test]
    async fn replies_skip_events_and_ok_is_checked() {
        let d = tempfile::tempdir().unwrap();
        let server_path = d.path().join("veth0");
        let server = UnixDatagram::bind(&server_path).unwrap();
        let ctrl = Ctrl::connect(&server_path, d.path().join("cmd")).unwrap();
        let srv = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            for reply in ["Supplicant PAE state=HELD\n", "FAIL\n"] {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                assert!(n > 0);
                let from = from.as_pathname().unwrap().to_owned();
                server
                    .send_to(b"<3>CTRL-EVENT-EAP-STARTED x", &from)
                    .await
                    .unwrap();
                server.send_to(reply.as_bytes(), &from).await.unwrap();
            }
        });
        let r = ctrl.request("STATUS").await.unwrap();
        assert_eq!(r, "Supplicant PAE state=HELD\n");
        let e = ctrl.command_ok("ATTACH").await.unwrap_err();
        assert!(matches!(e, CtrlError::Refused { .. }), "{e}");
        srv.await.unwrap();
        let local = d.path().join("cmd");
        assert!(local.exists());
        drop(ctrl);
        assert!(!local.exists());
    }

    #[tokio::test]
    async fn errors_of_secret_commands_never_hold_the_secret() {
        let d = tempfile::tempdir().unwrap();
        let server_path = d.path().join("veth0");
        let server = UnixDatagram::bind(&server_path).unwrap();
        let ctrl = Ctrl::connect(&server_path, d.path().join("cmd")).unwrap();
        let srv = tokio::spawn(async move {
            let mut buf = [0u8; 128];
            let (_, from) = server.recv_from(&mut buf).await.unwrap();
            let from = from.as_pathname().unwrap().to_owned();
            server.send_to(b"FAIL\n", &from).await.unwrap();
        });
        let e = ctrl
            .command_ok_as(
                "CTRL-RSP-PASSWORD-0:hunter22",
                "CTRL-RSP-PASSWORD-0:(the password)",
            )
            .await
            .unwrap_err();
        srv.await.unwrap();
        assert!(!format!("{e} {e:?}").contains("hunter22"), "{e}");
    }

    #[tokio::test]
    async fn missing_socket_is_a_connect_error() {
        let d = tempfile::tempdir().unwrap();
        let e = Ctrl::connect(&d.path().join("nope"), d.path().join("cmd"))
            .err()
            .unwrap();
        assert!(matches!(e, CtrlError::Connect { .. }));
    }
}
