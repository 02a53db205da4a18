//! A real S3 server on 127.0.0.1, in-process: `s3s-fs` (objects are files
//! under a temporary directory) behind `s3s`'s protocol layer, which checks
//! SigV4 signatures. It implements what batchscore relies on: multipart
//! upload (parts under 5 MiB refused, the object invisible until completed),
//! ranged GET, and conditional PUT (If-None-Match: *, If-Match). s3s-fs
//! checks a condition, then writes: two racing creates could both win
//! there, where S3 lets exactly one. Conditional requests are therefore
//! answered one at a time, as S3 serializes them (the sharded commit
//! races its creates on purpose).

use std::path::PathBuf;

use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const ACCESS_KEY: &str = "batchscore-test";
pub const SECRET_KEY: &str = "batchscore-test-secret";

pub struct S3Server {
    pub endpoint: String,
    /// Requests received, answered or not.
    pub hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    root: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    tasks: std::sync::Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
}

impl S3Server {
    /// A server that checks signatures against [`ACCESS_KEY`] and [`SECRET_KEY`].
    pub fn start() -> S3Server {
        Self::start_mode(true, false, None)
    }

    /// A server that serves anyone, as a plain web server does.
    pub fn start_public() -> S3Server {
        Self::start_mode(false, false, None)
    }

    /// A server that answers every request with one S3 error, as a store
    /// does when a bucket policy denies the credentials (403 `AccessDenied`)
    /// or when it sheds load (503 `SlowDown`).
    pub fn start_refusing(status: u16, code: &'static str) -> S3Server {
        Self::start_mode(true, false, Some((status, code)))
    }

    /// [`S3Server::start`] behind TLS, with the self-signed certificate in
    /// `tests/fixtures/tls/` (for 127.0.0.1 and localhost, valid to 2126):
    /// clients trust it through `SSL_CERT_FILE`, as they would a private CA.
    pub fn start_tls() -> S3Server {
        Self::start_mode(true, true, None)
    }

    /// [`S3Server::start_public`] behind TLS.
    pub fn start_public_tls() -> S3Server {
        Self::start_mode(false, true, None)
    }

    fn start_mode(auth: bool, tls: bool, refuse: Option<(u16, &'static str)>) -> S3Server {
        let root = tempfile::Builder::new().prefix("batchscore-s3-").tempdir().expect("server root");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs");
        let mut b = S3ServiceBuilder::new(fs);
        if auth {
            b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        }
        let s3 = b.build();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = hits.clone();
        let conditional = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let s3 = s3.clone();
            let conditional = conditional.clone();
            async move {
                let _one_at_a_time = match req.headers().contains_key("if-none-match")
                    || req.headers().contains_key("if-match")
                {
                    true => Some(conditional.lock().await),
                    false => None,
                };
                match refuse {
                    Some((status, code)) => Ok(refusal(status, code)),
                    None => hyper::service::Service::call(&s3, req).await,
                }
            }
        });
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let scheme = if tls { "https" } else { "http" };
        let endpoint = format!("{scheme}://{}", listener.local_addr().expect("addr"));
        let tls = tls.then(tls_acceptor);
        let tasks = std::sync::Arc::new(std::sync::Mutex::new(tokio::task::JoinSet::new()));
        let conns = tasks.clone();
        let accept = async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let service = service.clone();
                let tls = tls.clone();
                let conn = async move {
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(socket), service).await;
                        }
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(socket).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                    }
                };
                if let Ok(mut set) = conns.lock() {
                    set.spawn(conn);
                }
            }
        };
        tasks.lock().expect("tasks").spawn_on(accept, rt.handle());
        S3Server { endpoint, hits, root, rt, tasks }
    }

    /// A bucket is a directory.
    pub fn bucket(&self, name: &str) -> &Self {
        std::fs::create_dir_all(self.root.path().join(name)).expect("bucket");
        self
    }

    /// Puts an object by writing its file and its ETag as s3s-fs stores
    /// them (without a stored ETag, s3s-fs hashes the whole file on every
    /// GET, which makes ranged reads of a large object crawl).
    pub fn put(&self, bucket: &str, key: &str, bytes: impl AsRef<[u8]>) {
        use sha2::Digest;
        let p = self.path(bucket, key);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let digest = sha2::Sha256::digest(bytes.as_ref());
        let e_tag: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        std::fs::write(p, bytes).expect("put");
        let info = self.root.path().join(format!(
            ".bucket-{}.object-{}.internal.json",
            base64_url(bucket.as_bytes()),
            base64_url(key.as_bytes())
        ));
        std::fs::write(info, format!("{{\"e_tag\":\"{e_tag}\"}}")).expect("object info");
    }

    /// The buckets jobs/demo-s3.toml uses, with the demo day and model in them.
    pub fn with_demo(&self) -> &Self {
        self.bucket("demo-exports").bucket("demo-models").bucket("demo-scores");
        let read = |rel: &str| std::fs::read(super::repo().join(rel)).expect("a demo file");
        self.put("demo-exports", "2026-11-23.csv", read("data/input/2026-11-23.csv"));
        self.put("demo-models", "demo.onnx", read("data/models/demo.onnx"));
        self
    }

    pub fn path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.path().join(bucket).join(key)
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(bucket, key)).ok()
    }

    /// Keys under `prefix` in `bucket`, sorted, as files (hidden ones too).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let root = self.root.path().join(bucket);
        let mut out = vec![];
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let key = p.strip_prefix(&root).expect("prefix").to_string_lossy().replace('\\', "/");
                    if key.starts_with(prefix) {
                        out.push(key);
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub fn pending_uploads(&self) -> usize {
        std::fs::read_dir(self.root.path())
            .expect("root")
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(".upload-") && n.ends_with(".json")
            })
            .count()
    }

    /// Stops listening and drops every open connection, as a crashed
    /// server would.
    pub fn stop(&self) {
        let tasks = self.tasks.clone();
        self.rt.block_on(async move {
            let mut set = std::mem::take(&mut *tasks.lock().expect("tasks"));
            set.abort_all();
            while set.join_next().await.is_some() {}
        });
    }

    /// Environment for a batchscore run against this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            // Failures should show in seconds, not minutes.
            ("POLARS_CLOUD_MAX_RETRIES", "1".to_owned()),
            ("POLARS_CLOUD_RETRY_TIMEOUT_MS", "2000".to_owned()),
            ("POLARS_HTTP_CONNECT_TIMEOUT_SECONDS", "5".to_owned()),
        ];
        if self.endpoint.starts_with("https://") {
            env.push(("SSL_CERT_FILE", tls_cert().display().to_string()));
        }
        env
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An S3 error response, as AWS writes them.
fn refusal(status: u16, code: &str) -> hyper::Response<s3s::Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>refused by the test server</Message><RequestId>0</RequestId></Error>"
    );
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(s3s::Body::from(body))
        .expect("a response")
}

/// The path of the certificate a TLS server presents, for `SSL_CERT_FILE`.
pub fn tls_cert() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/cert.pem")
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = tls_cert().with_file_name("");
    let certs = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .and_then(|c| c.collect::<Result<Vec<_>, _>>())
        .expect("tests/fixtures/tls/cert.pem");
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).expect("tests/fixtures/tls/key.pem");
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .expect("TLS server config");
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

/// Unpadded URL-safe base64, as s3s-fs names its object-info files.
fn base64_url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}
