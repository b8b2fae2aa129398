//! nginx as the load balancer in front of several replicas, as a test starts it: its own
//! prefix, a free loopback port, no daemon, stopped on drop. A refused or reset connection to
//! one replica is retried on the next (`proxy_next_upstream error`), which is what lets a
//! replica leave without a failed request; `non_idempotent` lets nginx retry a prediction
//! (a POST) whose replica died mid-request, which is safe: a prediction changes nothing.

#![allow(clippy::unwrap_used)]

use super::{closed_port, eventually, TempDir};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running nginx balancing over fixed replica addresses.
pub(crate) struct Balancer {
    child: Child,
    /// Where clients send their requests.
    pub(crate) addr: SocketAddr,
    _dir: TempDir,
}

impl Balancer {
    pub(crate) fn start(replicas: &[SocketAddr]) -> Self {
        let dir = TempDir::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755));
        }
        let port = closed_port();
        let servers: String = replicas
            .iter()
            .map(|a| format!("        server {a} max_fails=0;\n"))
            .collect();
        let p = dir.path().display();
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n    access_log off;\n    client_body_temp_path {p}/body;\n    \
             proxy_temp_path {p}/proxy;\n    fastcgi_temp_path {p}/fastcgi;\n    \
             uwsgi_temp_path {p}/uwsgi;\n    scgi_temp_path {p}/scgi;\n    \
             upstream rollgate {{\n{servers}    }}\n    \
             server {{\n        listen 127.0.0.1:{port};\n        location / {{\n            \
             proxy_pass http://rollgate;\n            \
             proxy_next_upstream error timeout non_idempotent;\n            \
             proxy_connect_timeout 1s;\n        }}\n    }}\n}}\n"
        );
        let path = dir.write("nginx.conf", conf);
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts (scripts/test.sh installs it)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let up = eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(addr).is_ok()
        });
        assert!(up, "nginx never listened on {addr}");
        Self {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
