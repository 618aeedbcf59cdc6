//! A real S3 server for tests: `moto_server` (PyPI `moto[server]`) on a
//! free loopback port, and a proxy in front of it that injects faults.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn wait_for(port: u16, what: &str, child: &mut Child) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening on port {port}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not listen on port {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts moto_server, or fails saying how to install it.
pub(crate) fn moto() -> Server {
    super::require("moto_server", "python3-pip && pip install 'moto[server]'");
    let port = free_port();
    let mut child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start moto_server");
    wait_for(port, "moto_server", &mut child);
    Server { child, port }
}

/// The fault-injecting proxy (tests/fixtures/faulty-proxy.py) in `mode`.
pub(crate) fn faulty_proxy(upstream: u16, mode: &str) -> Server {
    let port = free_port();
    let script = super::project().join("tests/fixtures/faulty-proxy.py");
    let mut child = Command::new("python3")
        .args([
            super::s(&script),
            &port.to_string(),
            &upstream.to_string(),
            mode,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start python3");
    wait_for(port, "the faulty proxy", &mut child);
    Server { child, port }
}

impl Server {
    /// Creates a bucket (moto accepts an unsigned PUT).
    pub(crate) fn bucket(&self, name: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.port).unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        assert!(
            r.starts_with("HTTP/1.1 200"),
            "cannot create bucket {name}: {r}"
        );
    }

    pub(crate) fn url(&self, bucket_and_prefix: &str) -> String {
        format!(
            "s3://{bucket_and_prefix}?endpoint=http://127.0.0.1:{}&region=us-east-1",
            self.port
        )
    }
}

/// Environment for r2r against moto.
pub(crate) const ENV: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

impl Server {
    /// A raw, unsigned request (moto accepts them); returns the response head
    /// and body as text.
    pub(crate) fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.port,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut r = Vec::new();
        s.read_to_end(&mut r).unwrap();
        String::from_utf8_lossy(&r).into_owned()
    }
}
