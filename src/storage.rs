//! Object storage: where a job has a path it may have a URL (`s3://`,
//! `gs://`, `az://`/`abfss://`, `https://`), and this module is everything
//! the pipeline does with one: parse and redact URLs, build the client the
//! way each cloud's own tools find credentials, list a prefix for a glob,
//! head, get, put (also create-only and compare-and-swap, for locks), and
//! multipart uploads whose id is kept so a killed run's upload can be
//! aborted by the next one.
//!
//! Reading table data goes through polars' own cloud readers (ranged GETs,
//! streamed); [`cloud_options`] gives polars the same configuration this
//! module's client uses, so both find the same endpoint and credentials.
//!
//! One process runs one job, so the job's `[storage]` table is set once
//! ([`configure`]) instead of being threaded through every step.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use futures::StreamExt;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::Deserialize;

use crate::error::{Kind, failure};

/// The job file's `[storage]` table: what the environment cannot say per job.
/// Never credentials: those come from where the cloud's own tools find them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StorageOptions {
    /// An S3-compatible store's URL (MinIO, Ceph, R2, a local server).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`.
    pub path_style: Option<bool>,
}

impl StorageOptions {
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(e) = &self.endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            anyhow::bail!("storage.endpoint {e:?}: expected an http:// or https:// URL");
        }
        Ok(())
    }
}

static OPTIONS: OnceLock<StorageOptions> = OnceLock::new();

/// Sets the job's `[storage]` table, once, before any object is touched.
pub fn configure(options: &StorageOptions) {
    let _ = OPTIONS.set(options.clone());
}

fn options() -> &'static StorageOptions {
    OPTIONS.get_or_init(StorageOptions::default)
}

/// Which client an URL needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cloud {
    S3,
    Gcs,
    Azure,
    Http,
}

/// An object's URL: `scheme://authority/key`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectUrl {
    scheme: String,
    authority: String,
    /// Without the leading '/'; for http(s), with the query string.
    key: String,
}

impl ObjectUrl {
    pub fn parse(text: &str) -> anyhow::Result<ObjectUrl> {
        let Some((scheme, rest)) = text.split_once("://") else {
            anyhow::bail!("{:?} is not a URL", redact(text));
        };
        let scheme = scheme.to_ascii_lowercase();
        if cloud_of(&scheme).is_none() {
            anyhow::bail!(
                "{:?}: unsupported URL scheme {scheme:?} (use s3://, gs://, az://, abfss:// or https://)",
                redact(text)
            );
        }
        let (authority, key) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            anyhow::bail!("{:?}: no bucket in the URL", redact(text));
        }
        Ok(ObjectUrl { scheme, authority: authority.to_owned(), key: key.to_owned() })
    }

    pub fn cloud(&self) -> Cloud {
        cloud_of(&self.scheme).unwrap_or(Cloud::Http)
    }

    /// The whole URL, secrets and all: for the clients, never for people.
    pub fn full(&self) -> String {
        if self.key.is_empty() {
            self.root()
        } else {
            format!("{}://{}/{}", self.scheme, self.authority, self.key)
        }
    }

    /// `scheme://authority`: the bucket (or, for http, the server).
    fn root(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn with_key(&self, key: &str) -> ObjectUrl {
        ObjectUrl { key: key.to_owned(), ..self.clone() }
    }

    /// `name` under this URL taken as a directory.
    pub fn join(&self, name: &str) -> ObjectUrl {
        let key = if self.key.is_empty() || self.key.ends_with('/') {
            format!("{}{name}", self.key)
        } else {
            format!("{}/{name}", self.key)
        };
        self.with_key(&key)
    }

    /// The key up to its last '/', with that '/' (empty at the top).
    pub fn dir(&self) -> ObjectUrl {
        let key = match self.key.rfind('/') {
            Some(i) => &self.key[..=i],
            None => "",
        };
        self.with_key(key)
    }

    /// The last part of the key (of an http(s) URL's path, without its query).
    pub fn file_name(&self) -> &str {
        let path = match self.cloud() {
            Cloud::Http => self.key.split('?').next().unwrap_or(&self.key),
            _ => &self.key,
        };
        path.rsplit('/').next().unwrap_or(path)
    }

    /// What a client is built for: the bucket, or for http(s) the whole
    /// URL (its query string may be a signature that must reach the server).
    fn client_url(&self) -> String {
        match self.cloud() {
            Cloud::Http => self.full(),
            _ => self.root(),
        }
    }

    fn object_key(&self) -> anyhow::Result<Key> {
        if self.cloud() == Cloud::Http {
            return Ok(Key::default());
        }
        Key::parse(&self.key).map_err(|e| {
            failure(Kind::Config, format!("{self}: not a valid object key ({})", redact(&e.to_string())))
        })
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.full()))
    }
}

impl fmt::Debug for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

fn cloud_of(scheme: &str) -> Option<Cloud> {
    Some(match scheme {
        "s3" | "s3a" => Cloud::S3,
        "gs" | "gcs" => Cloud::Gcs,
        "az" | "azure" | "abfs" | "abfss" | "adl" => Cloud::Azure,
        // http:// for a local server in tests and demos; https:// for the rest.
        "https" | "http" => Cloud::Http,
        _ => return None,
    })
}

/// True when `text` starts like `scheme://` (a URL, not a path; a Windows
/// drive letter has no `//`).
pub fn is_url(text: &str) -> bool {
    text.split_once("://").is_some_and(|(s, _)| {
        s.len() > 1 && s.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    })
}

/// Removes what may be a secret from every URL in `text`: the query string
/// (presigned URLs carry their signature there) and a `user:password@`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(|c: char| c.is_whitespace() || "\"'<>)".contains(c)).unwrap_or(rest.len());
        let (url, after) = rest.split_at(end);
        let (authority, path) = url.find('/').map_or((url, ""), |j| url.split_at(j));
        match authority.rsplit_once('@') {
            Some((user, host)) if user.contains(':') => {
                out.push_str("***@");
                out.push_str(host);
            }
            _ => out.push_str(authority),
        }
        match path.split_once('?') {
            Some((p, _)) => {
                out.push_str(p);
                out.push_str("?…");
            }
            None => out.push_str(path),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A file on this machine or an object in a bucket.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    Local(PathBuf),
    Object(ObjectUrl),
}

impl Location {
    /// `text` as a URL when it is one, else a path against `base`.
    pub fn parse(text: &str, base: &Path) -> anyhow::Result<Location> {
        if is_url(text) {
            Ok(Location::Object(ObjectUrl::parse(text)?))
        } else {
            Ok(Location::Local(crate::template::clean(base.join(text))))
        }
    }

    /// Itself, as printed: the same call as `Path::display` so messages
    /// read the same for files and objects.
    pub fn display(&self) -> &Location {
        self
    }

    pub fn local(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            Location::Object(_) => None,
        }
    }

    /// `name` under this location taken as a directory.
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.join(name)),
            Location::Object(u) => Location::Object(u.join(name)),
        }
    }

    /// The last part of the path or key.
    pub fn file_name(&self) -> String {
        match self {
            Location::Local(p) => {
                p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into())
            }
            Location::Object(u) => u.file_name().to_owned(),
        }
    }

    /// The same directory, another file name.
    pub fn with_file_name(&self, name: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.with_file_name(name)),
            Location::Object(u) => Location::Object(u.dir().join(name)),
        }
    }

    /// Whether the file or object exists (an unreachable store counts as no).
    pub fn exists(&self) -> bool {
        match self {
            Location::Local(p) => p.is_file(),
            Location::Object(u) => matches!(head(u), Ok(Some(_))),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::Object(u) => write!(f, "{u}"),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{p:?}"),
            Location::Object(u) => write!(f, "{u:?}"),
        }
    }
}

impl PartialEq<&Path> for Location {
    fn eq(&self, other: &&Path) -> bool {
        self.local() == Some(*other)
    }
}

/// Records keep a location as the string the user wrote (URLs redacted).
impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Location::Local(p) => p.serialize(s),
            Location::Object(u) => s.serialize_str(&u.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if is_url(&text) {
            ObjectUrl::parse(&text).map(Location::Object).map_err(serde::de::Error::custom)
        } else {
            Ok(Location::Local(PathBuf::from(text)))
        }
    }
}

// ---- clients ----

/// One runtime for every object-storage call. Two workers: a lock's
/// renewal must not wait behind a part upload.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("storage")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the object-storage runtime: {e}"))
    })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

struct Client {
    store: Arc<dyn ObjectStore>,
    /// Multipart with the upload id in our hands (not for http).
    multipart: Option<Arc<dyn MultipartStore>>,
}

/// S3 settings from the job's `[storage]`, then the environment, then the
/// profile files, in that order; every key set here is set for polars too.
fn aws_config() -> Vec<(object_store::aws::AmazonS3ConfigKey, String)> {
    use object_store::aws::AmazonS3ConfigKey as K;
    let o = options();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let profile = aws_profile();
    let mut v = Vec::new();
    let endpoint = o
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| env("AWS_ENDPOINT"))
        .or_else(|| profile.get("endpoint_url").cloned());
    let region = o
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| profile.get("region").cloned())
        // An S3-compatible store rarely cares; without a region polars
        // would ask amazonaws.com which region the bucket is in.
        .or_else(|| endpoint.as_ref().map(|_| "us-east-1".to_owned()));
    // (Plain http:// endpoints are allowed by both clients' options.)
    if let Some(e) = endpoint {
        v.push((K::Endpoint, e));
    }
    if let Some(r) = region {
        v.push((K::Region, r));
    }
    if let Some(p) = o.path_style {
        v.push((K::VirtualHostedStyleRequest, (!p).to_string()));
    }
    // Keys from the profile files only when the environment has none
    // (the environment wins, as with the AWS CLI).
    if env("AWS_ACCESS_KEY_ID").is_none()
        && let (Some(id), Some(secret)) =
            (profile.get("aws_access_key_id"), profile.get("aws_secret_access_key"))
    {
        v.push((K::AccessKeyId, id.clone()));
        v.push((K::SecretAccessKey, secret.clone()));
        if let Some(t) = profile.get("aws_session_token") {
            v.push((K::Token, t.clone()));
        }
    }
    v
}

/// The AWS profile (`AWS_PROFILE`, else `default`) from `~/.aws/config`
/// and `~/.aws/credentials` (or `AWS_CONFIG_FILE` and
/// `AWS_SHARED_CREDENTIALS_FILE`), as `key → value`.
fn aws_profile() -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).map(PathBuf::from);
    let file = |var: &str, name: &str| {
        std::env::var_os(var).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    // ~/.aws/config names sections "profile NAME" (but "default" plainly).
    let sources = [
        (file("AWS_CONFIG_FILE", "config"), format!("profile {profile}")),
        (file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), profile.clone()),
    ];
    for (path, section) in sources {
        let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else { continue };
        let mut inside = false;
        for line in text.lines() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let name = name.trim();
                inside = name == section || name == profile;
            } else if inside && let Some((k, v)) = line.split_once('=') {
                out.entry(k.trim().to_ascii_lowercase()).or_insert_with(|| v.trim().to_owned());
            }
        }
    }
    out
}

/// polars' retry settings (`POLARS_CLOUD_MAX_RETRIES`,
/// `POLARS_CLOUD_RETRY_TIMEOUT_MS`, …), for our client too.
fn retry() -> object_store::RetryConfig {
    polars::io::cloud::CloudRetryConfig::default().into()
}

fn client_options() -> object_store::ClientOptions {
    let connect = std::env::var("POLARS_HTTP_CONNECT_TIMEOUT_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(300);
    object_store::ClientOptions::new()
        .with_timeout_disabled()
        .with_connect_timeout(std::time::Duration::from_secs(connect))
        .with_allow_http(true)
}

fn client(url: &ObjectUrl) -> anyhow::Result<Arc<Client>> {
    static CLIENTS: Mutex<Vec<(String, Arc<Client>)>> = Mutex::new(Vec::new());
    let root = url.client_url();
    let mut clients = CLIENTS.lock().map_err(|_| failure(Kind::Internal, "storage clients poisoned"))?;
    if let Some((_, c)) = clients.iter().find(|(r, _)| *r == root) {
        return Ok(c.clone());
    }
    let bad = |e: object_store::Error| {
        failure(Kind::Config, format!("{url}: cannot set up a client: {}", redact(&e.to_string())))
    };
    let c = match url.cloud() {
        Cloud::S3 => {
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_url(root.clone())
                .with_client_options(client_options())
                .with_retry(retry());
            for (k, v) in aws_config() {
                b = b.with_config(k, v);
            }
            let s = Arc::new(b.build().map_err(bad)?);
            Client { store: s.clone(), multipart: Some(s) }
        }
        Cloud::Gcs => {
            let s = Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(root.clone())
                    .with_client_options(client_options())
                    .with_retry(retry())
                    .build()
                    .map_err(bad)?,
            );
            Client { store: s.clone(), multipart: Some(s) }
        }
        Cloud::Azure => {
            let s = Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(root.clone())
                    .with_client_options(client_options())
                    .with_retry(retry())
                    .build()
                    .map_err(bad)?,
            );
            Client { store: s.clone(), multipart: Some(s) }
        }
        Cloud::Http => {
            let s = object_store::http::HttpBuilder::new()
                .with_url(root.clone())
                .with_client_options(client_options())
                .with_retry(retry())
                .build()
                .map_err(bad)?;
            Client { store: Arc::new(s), multipart: None }
        }
    };
    let c = Arc::new(c);
    clients.push((root, c.clone()));
    Ok(c)
}

/// The options polars needs to read `url` as this module would.
pub fn cloud_options(url: &ObjectUrl) -> polars::io::cloud::CloudOptions {
    let o = polars::io::cloud::CloudOptions::default();
    match url.cloud() {
        Cloud::S3 => o.with_aws(aws_config()),
        _ => o,
    }
}

// ---- errors ----

/// What the caller was doing, which decides the exit code of a failure.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Reading an input (missing: 66).
    ReadInput,
    /// Reading anything else (model, record, lock).
    Read,
    /// Writing (denied or no bucket: 73).
    Write,
}

/// One message per failure: the URL, what went wrong, what to do.
fn explain(url: &ObjectUrl, op: Op, e: &object_store::Error) -> anyhow::Error {
    use object_store::Error as E;
    let hint = match e {
        E::NotFound { .. } => Some(Hint::NotFound),
        E::PermissionDenied { .. } => Some(Hint::Denied),
        E::Unauthenticated { .. } => Some(Hint::Unauthenticated),
        _ => None,
    };
    // object_store's message stops at "error sending request"; why (a
    // refused connection, an untrusted certificate) is further down the chain.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text = format!("{text}: {s_text}");
        }
        source = s.source();
    }
    explain_text(url, op, &text, hint)
}

/// What the error's type said, when we have its type.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    NotFound,
    Denied,
    Unauthenticated,
}

/// [`explain`] for an error we only have as text (one that came through
/// polars' readers).
pub fn explain_text(url: &ObjectUrl, op: Op, text: &str, hint: Option<Hint>) -> anyhow::Error {
    let text = redact(text);
    let lower = text.to_ascii_lowercase();
    let hint = hint.or(if lower.contains("lacked valid authentication") {
        Some(Hint::Unauthenticated)
    } else if lower.contains("lacked the necessary privileges") {
        Some(Hint::Denied)
    } else if lower.contains("not found") {
        Some(Hint::NotFound)
    } else {
        None
    });
    let creds = match url.cloud() {
        Cloud::S3 => "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, or an instance/pod role",
        Cloud::Gcs => "GOOGLE_APPLICATION_CREDENTIALS or the machine's service account",
        Cloud::Azure => {
            "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY, a SAS token or a managed identity"
        }
        Cloud::Http => "none: an http(s) URL carries its own, e.g. a presigned URL, which may have expired",
    };
    let write_kind = if op == Op::Write { Kind::CantCreate } else { Kind::Io };
    let (kind, what) = if lower.contains("nosuchbucket") || lower.contains("containernotfound") {
        let kind = match op {
            Op::ReadInput => Kind::NoInput,
            Op::Read => Kind::Io,
            Op::Write => Kind::CantCreate,
        };
        (kind, "no such bucket: check the bucket name and the endpoint/region".to_owned())
    } else if lower.contains("/latest/api/token")
        || lower.contains("/latest/meta-data")
        || lower.contains("169.254.170.2")
    {
        // Nothing in the environment or the profile files, and no instance
        // or task role answered: object_store's last resort failed.
        (write_kind, format!("no credentials found: set {creds}"))
    } else if lower.contains("invalidaccesskeyid")
        || lower.contains("signaturedoesnotmatch")
        || hint == Some(Hint::Unauthenticated)
        || lower.contains("no credentials")
        || lower.contains("missing credentials")
    {
        (write_kind, format!("the store refused the credentials: set {creds}"))
    } else if hint == Some(Hint::Denied) || lower.contains("accessdenied") {
        (
            write_kind,
            format!("access denied: the credentials in use ({creds}) lack permission for this object"),
        )
    } else if hint == Some(Hint::NotFound) {
        let kind = if op == Op::ReadInput { Kind::NoInput } else { Kind::Io };
        (kind, "no such object".to_owned())
    } else if lower.contains("certificate") {
        (
            Kind::Io,
            "the server's TLS certificate is not trusted: if the store uses a private CA, set SSL_CERT_FILE to its certificate (PEM); otherwise check the endpoint's name".to_owned(),
        )
    } else if lower.contains("slowdown")
        || lower.contains("503 service unavailable")
        || lower.contains("429 too many requests")
        || lower.contains("toomanyrequests")
    {
        (
            Kind::Io,
            "the store is throttling requests and the retries ran out: rerun later, or raise POLARS_CLOUD_MAX_RETRIES / POLARS_CLOUD_RETRY_TIMEOUT_MS".to_owned(),
        )
    } else if lower.contains("error sending request")
        || lower.contains("connect")
        || lower.contains("timed out")
        || lower.contains("connection")
        || lower.contains("dns")
    {
        (
            Kind::Io,
            "cannot reach the store, or the connection dropped: check the endpoint and the network, then rerun (retries: POLARS_CLOUD_MAX_RETRIES, POLARS_CLOUD_RETRY_TIMEOUT_MS)".to_owned(),
        )
    } else {
        (Kind::Io, "the store returned an error".to_owned())
    };
    // The first line of the cause, for whoever reads the log; never a whole
    // response body.
    let cause: String = text.lines().next().unwrap_or_default().chars().take(300).collect();
    failure(kind, format!("{url}: {what} ({cause})"))
}

// ---- operations ----

/// The object's metadata, or None when there is no such object.
pub fn head(url: &ObjectUrl) -> anyhow::Result<Option<object_store::ObjectMeta>> {
    let c = client(url)?;
    let key = url.object_key()?;
    match block_on(c.store.head(&key)) {
        Ok(m) => Ok(Some(m)),
        Err(object_store::Error::NotFound { source, .. })
            if !source.to_string().to_ascii_lowercase().contains("nosuchbucket") =>
        {
            Ok(None)
        }
        Err(e) => Err(explain(url, Op::Read, &e)),
    }
}

/// Like [`head`], for an input. A HEAD response has no body to say
/// whether the key or the bucket is missing, so a miss lists the key's
/// directory to tell (a missing bucket deserves its own message).
pub fn head_input(url: &ObjectUrl) -> anyhow::Result<Option<u64>> {
    let c = client(url)?;
    let key = url.object_key()?;
    // A presigned URL is signed for GET only: ask for its first byte, and
    // the size comes with the answer.
    let head = async {
        if url.cloud() == Cloud::Http {
            let opts = object_store::GetOptions { range: Some((0..1).into()), ..Default::default() };
            c.store.get_opts(&key, opts).await.map(|g| g.meta)
        } else {
            c.store.head(&key).await
        }
    };
    match block_on(head) {
        Ok(m) => Ok(Some(m.size)),
        Err(e @ object_store::Error::NotFound { .. }) => {
            if url.cloud() != Cloud::Http {
                let dir = url.dir();
                let dir_key = Key::parse(dir.key().trim_end_matches('/')).ok();
                if let Err(e) = block_on(c.store.list_with_delimiter(dir_key.as_ref())) {
                    return Err(explain(url, Op::ReadInput, &e));
                }
            }
            let _ = e;
            Ok(None)
        }
        Err(e) => Err(explain(url, Op::ReadInput, &e)),
    }
}

/// Objects under `prefix` (a key prefix, not only whole directories), with sizes.
pub fn list(prefix: &ObjectUrl, op: Op) -> anyhow::Result<Vec<(ObjectUrl, u64)>> {
    let c = client(prefix)?;
    // object_store lists whole path segments: list the directory part and
    // keep what starts with the rest.
    let dir = prefix.dir();
    let dir_key = dir.key().trim_end_matches('/');
    let dir_key = if dir_key.is_empty() {
        None
    } else {
        Some(Key::parse(dir_key).map_err(|e| failure(Kind::Config, format!("{prefix}: {e}")))?)
    };
    let metas: Vec<_> = block_on(c.store.list(dir_key.as_ref()).collect::<Vec<_>>());
    let mut out = Vec::new();
    for m in metas {
        let m = m.map_err(|e| explain(prefix, op, &e))?;
        let key = m.location.as_ref();
        if key.starts_with(prefix.key()) {
            out.push((prefix.with_key(key), m.size));
        }
    }
    out.sort();
    Ok(out)
}

/// The whole object (models, records: small things).
pub fn get(url: &ObjectUrl, op: Op) -> anyhow::Result<Option<Vec<u8>>> {
    let c = client(url)?;
    let key = url.object_key()?;
    let r = block_on(async { c.store.get(&key).await?.bytes().await });
    match r {
        Ok(b) => Ok(Some(b.to_vec())),
        Err(e @ object_store::Error::NotFound { .. })
            if !e.to_string().to_ascii_lowercase().contains("nosuchbucket") =>
        {
            Ok(None)
        }
        Err(e) => Err(explain(url, op, &e)),
    }
}

/// Writes a whole object in one request: on every store, a reader sees the
/// old object or the new one, never a part.
pub fn put(url: &ObjectUrl, bytes: Vec<u8>) -> anyhow::Result<()> {
    put_mode(url, bytes, PutMode::Overwrite).map(drop)
}

/// How a conditional put ended.
pub enum Put {
    Done {
        e_tag: Option<String>,
    },
    /// Create-only, and the object exists; or compare-and-swap, and it changed.
    Conflict,
}

/// Creates `url` only if nothing is there (If-None-Match: *).
pub fn put_create(url: &ObjectUrl, bytes: Vec<u8>) -> anyhow::Result<Put> {
    put_mode(url, bytes, PutMode::Create)
}

/// Replaces `url` only if it is still the version `e_tag` (If-Match).
pub fn put_if_match(url: &ObjectUrl, bytes: Vec<u8>, e_tag: &str) -> anyhow::Result<Put> {
    put_mode(url, bytes, PutMode::Update(UpdateVersion { e_tag: Some(e_tag.to_owned()), version: None }))
}

fn put_mode(url: &ObjectUrl, bytes: Vec<u8>, mode: PutMode) -> anyhow::Result<Put> {
    let c = client(url)?;
    let key = url.object_key()?;
    let opts = PutOptions { mode, ..Default::default() };
    match block_on(c.store.put_opts(&key, PutPayload::from(bytes), opts)) {
        Ok(r) => Ok(Put::Done { e_tag: r.e_tag }),
        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
            Ok(Put::Conflict)
        }
        Err(e) => Err(explain(url, Op::Write, &e)),
    }
}

/// Reads an object with its version tag, for compare-and-swap.
pub fn get_versioned(url: &ObjectUrl) -> anyhow::Result<Option<(Vec<u8>, Option<String>)>> {
    let c = client(url)?;
    let key = url.object_key()?;
    let r = block_on(async {
        let g = c.store.get(&key).await?;
        let tag = g.meta.e_tag.clone();
        Ok::<_, object_store::Error>((g.bytes().await?.to_vec(), tag))
    });
    match r {
        Ok(v) => Ok(Some(v)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(explain(url, Op::Read, &e)),
    }
}

pub fn delete(url: &ObjectUrl) -> anyhow::Result<()> {
    let c = client(url)?;
    let key = url.object_key()?;
    match block_on(c.store.delete(&key)) {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(explain(url, Op::Write, &e)),
    }
}

/// A blocking reader over an object, streamed: for one pass over a CSV
/// without holding it.
pub fn stream(url: &ObjectUrl) -> anyhow::Result<impl Read + Send + use<>> {
    let c = client(url)?;
    let key = url.object_key()?;
    let s = block_on(c.store.get(&key)).map_err(|e| explain(url, Op::ReadInput, &e))?.into_stream();
    Ok(StreamRead { stream: s, buf: Vec::new(), at: 0, url: url.clone() })
}

struct StreamRead<S> {
    stream: S,
    buf: Vec<u8>,
    at: usize,
    url: ObjectUrl,
}

impl<S, B> Read for StreamRead<S>
where
    S: futures::Stream<Item = object_store::Result<B>> + Unpin,
    B: AsRef<[u8]>,
{
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.buf.len() {
            match block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(b)) => {
                    self.buf = b.as_ref().to_vec();
                    self.at = 0;
                }
                Some(Err(e)) => {
                    let e = explain(&self.url, Op::ReadInput, &e);
                    return Err(std::io::Error::other(format!("{e:#}")));
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// `Read + Seek` over an object by ranged GETs, a block at a time: for the
/// Parquet checks, which read the footer and the page headers only.
pub struct RangeRead {
    url: ObjectUrl,
    key: Key,
    client: Arc<Client>,
    size: u64,
    pos: u64,
    block_start: u64,
    block: Vec<u8>,
}

const RANGE_BLOCK: u64 = 64 << 10;

impl RangeRead {
    pub fn open(url: &ObjectUrl, size: u64) -> anyhow::Result<RangeRead> {
        Ok(RangeRead {
            url: url.clone(),
            key: url.object_key()?,
            client: client(url)?,
            size,
            pos: 0,
            block_start: 0,
            block: Vec::new(),
        })
    }
}

impl Read for RangeRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size {
            return Ok(0);
        }
        let in_block = self.pos >= self.block_start && self.pos < self.block_start + self.block.len() as u64;
        if !in_block {
            let end = (self.pos + RANGE_BLOCK.max(out.len() as u64)).min(self.size);
            let bytes = block_on(self.client.store.get_range(&self.key, self.pos..end))
                .map_err(|e| std::io::Error::other(format!("{:#}", explain(&self.url, Op::ReadInput, &e))))?;
            self.block = bytes.to_vec();
            self.block_start = self.pos;
            if self.block.is_empty() {
                return Ok(0);
            }
        }
        let off = (self.pos - self.block_start) as usize;
        let n = out.len().min(self.block.len() - off);
        out[..n].copy_from_slice(&self.block[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RangeRead {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => self.size as i128 + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if pos < 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"));
        }
        self.pos = pos as u64;
        Ok(self.pos)
    }
}

// ---- multipart uploads ----

/// S3 refuses parts under 5 MiB except the last; 8 MiB keeps a run's
/// buffer small and the part count low (10,000 parts: 80 GB).
const PART_BYTES: usize = 8 << 20;

/// An object written in parts that appears only on [`Upload::complete`].
/// Dropped without completing, it is aborted (best effort; the next run
/// aborts what a killed one left, from its marker).
pub struct Upload {
    url: ObjectUrl,
    key: Key,
    client: Arc<Client>,
    id: String,
    parts: Vec<PartId>,
    buf: Vec<u8>,
    /// The hidden object that names this upload until it ends.
    marker: ObjectUrl,
    done: bool,
}

/// Marker objects are `.<name>.<upload hash>.upload` beside the final key:
/// hidden from readers (which skip names starting with '.') and found by
/// listing the final key's directory.
fn marker_prefix(url: &ObjectUrl) -> ObjectUrl {
    url.dir().join(&format!(".{}.", url.file_name()))
}

impl Upload {
    pub fn start(url: &ObjectUrl) -> anyhow::Result<Upload> {
        let c = client(url)?;
        let Some(mp) = c.multipart.clone() else {
            return Err(failure(
                Kind::CantCreate,
                format!("{url}: cannot write over http(s); use s3://, gs:// or az://"),
            ));
        };
        let key = url.object_key()?;
        let id = block_on(mp.create_multipart(&key)).map_err(|e| explain(url, Op::Write, &e))?;
        let hash = {
            use sha2::Digest;
            let d = sha2::Sha256::digest(id.as_bytes());
            d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
        };
        let marker = url.dir().join(&format!(".{}.{hash}.upload", url.file_name()));
        let note = serde_json::json!({ "key": url.key(), "upload_id": id, "pid": std::process::id(), "host": crate::ledger::hostname() });
        if let Err(e) = put(&marker, note.to_string().into_bytes()) {
            let _ = block_on(mp.abort_multipart(&key, &id));
            return Err(e);
        }
        Ok(Upload {
            url: url.clone(),
            key,
            client: c,
            id,
            parts: Vec::new(),
            buf: Vec::new(),
            marker,
            done: false,
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.buf.extend_from_slice(bytes);
        while self.buf.len() >= PART_BYTES {
            let rest = self.buf.split_off(PART_BYTES);
            let part = std::mem::replace(&mut self.buf, rest);
            self.send(part)?;
        }
        Ok(())
    }

    fn send(&mut self, part: Vec<u8>) -> anyhow::Result<()> {
        let mp =
            self.client.multipart.clone().ok_or_else(|| failure(Kind::Internal, "no multipart client"))?;
        if crate::faults::upload_pause() == Some(self.parts.len() as u64) {
            eprintln!("test fault: upload of {} paused before part {}", self.url, self.parts.len());
            std::thread::sleep(std::time::Duration::from_secs(
                crate::faults::upload_pause_seconds().unwrap_or(60),
            ));
        }
        let id = block_on(mp.put_part(&self.key, &self.id, self.parts.len(), PutPayload::from(part)))
            .map_err(|e| explain(&self.url, Op::Write, &e))?;
        self.parts.push(id);
        Ok(())
    }

    /// Sends the last part and commits: the object appears, whole.
    pub fn complete(mut self) -> anyhow::Result<u64> {
        let last = std::mem::take(&mut self.buf);
        if !last.is_empty() || self.parts.is_empty() {
            self.send(last)?;
        }
        let mp =
            self.client.multipart.clone().ok_or_else(|| failure(Kind::Internal, "no multipart client"))?;
        let parts = std::mem::take(&mut self.parts);
        block_on(mp.complete_multipart(&self.key, &self.id, parts))
            .map_err(|e| explain(&self.url, Op::Write, &e))?;
        self.done = true;
        let _ = delete(&self.marker);
        Ok(head(&self.url)?.map_or(0, |m| m.size))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(mp) = self.client.multipart.clone() {
            match block_on(mp.abort_multipart(&self.key, &self.id)) {
                Ok(()) => {
                    let _ = delete(&self.marker);
                }
                Err(e) => {
                    tracing::warn!(object = %self.url, "cannot abort an unfinished upload (the next run will): {}", redact(&e.to_string()))
                }
            }
        }
    }
}

/// Aborts the uploads to `url` that a killed run left (from their
/// markers). Only called while holding the date's lock.
pub fn abort_stale(url: &ObjectUrl) -> anyhow::Result<usize> {
    let c = client(url)?;
    let Some(mp) = c.multipart.clone() else { return Ok(0) };
    let mut aborted = 0;
    for (marker, _) in list(&marker_prefix(url), Op::Write)? {
        if !marker.key().ends_with(".upload") {
            continue;
        }
        let Some(note) = get(&marker, Op::Read)? else { continue };
        let id = serde_json::from_slice::<serde_json::Value>(&note)
            .ok()
            .and_then(|v| v.get("upload_id").and_then(|s| s.as_str()).map(str::to_owned));
        if let Some(id) = id {
            let key = url.object_key()?;
            match block_on(mp.abort_multipart(&key, &id)) {
                Ok(()) => aborted += 1,
                // Already gone (completed or aborted by the store's lifecycle rule).
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(explain(url, Op::Write, &e)),
            }
            tracing::info!(object = %url, "aborted an unfinished upload left by an interrupted run");
        }
        delete(&marker)?;
    }
    Ok(aborted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_join() {
        let u = ObjectUrl::parse("s3://exports/2026/11/23/part-1.parquet").unwrap();
        assert_eq!(u.cloud(), Cloud::S3);
        assert_eq!(u.key(), "2026/11/23/part-1.parquet");
        assert_eq!(u.file_name(), "part-1.parquet");
        assert_eq!(u.dir().to_string(), "s3://exports/2026/11/23/");
        assert_eq!(u.dir().join("x.json").to_string(), "s3://exports/2026/11/23/x.json");
        assert_eq!(ObjectUrl::parse("s3://b").unwrap().join("j").to_string(), "s3://b/j");
        assert_eq!(
            ObjectUrl::parse("abfss://c@acct.dfs.core.windows.net/a/b").unwrap().cloud(),
            Cloud::Azure
        );
        assert!(ObjectUrl::parse("ftp://x/y").is_err());
        assert!(ObjectUrl::parse("s3:///key").is_err());
    }

    #[test]
    fn urls_and_paths_are_told_apart() {
        assert!(is_url("s3://b/k") && is_url("https://h/m.onnx"));
        assert!(!is_url("C:\\data\\x.csv") && !is_url("../in/%Y.csv") && !is_url("a://"[..1].as_ref()));
        let base = Path::new("/srv/jobs");
        assert_eq!(Location::parse("in/x.csv", base).unwrap(), Path::new("/srv/jobs/in/x.csv"));
        assert!(matches!(Location::parse("gs://b/k", base).unwrap(), Location::Object(_)));
    }

    #[test]
    fn failures_are_told_apart_by_what_they_say_not_by_stray_digits() {
        let url = ObjectUrl::parse("s3://b/k.csv").unwrap();
        let said = |text: &str| format!("{:#}", explain_text(&url, Op::ReadInput, text, None));
        // A duration that happens to contain "429", on an untrusted certificate.
        let cert = said(
            "Error performing PUT https://127.0.0.1:42141/b/k in 105.57429ms - HTTP error: error sending request: client error (Connect): invalid peer certificate: UnknownIssuer",
        );
        assert!(cert.contains("TLS certificate is not trusted"), "{cert}");
        let refused = said(
            "Error performing GET http://127.0.0.1:9/b/k in 1429.51ms - error sending request: connection refused",
        );
        assert!(refused.contains("cannot reach the store"), "{refused}");
        for throttled in [
            "Server returned non-2xx status code: 503 Service Unavailable: <Code>SlowDown</Code>",
            "Server returned non-2xx status code: 429 Too Many Requests",
        ] {
            assert!(said(throttled).contains("throttling"), "{throttled}");
        }
    }

    #[test]
    fn secrets_never_show() {
        let u = ObjectUrl::parse("https://host/m.onnx?X-Amz-Signature=abc&X-Amz-Credential=AKIA").unwrap();
        assert_eq!(u.to_string(), "https://host/m.onnx?…");
        assert_eq!(u.file_name(), "m.onnx");
        assert_eq!(
            redact("GET https://user:pw@host/a?sig=1 failed; s3://b/k ok"),
            "GET https://***@host/a?… failed; s3://b/k ok"
        );
        assert_eq!(redact("abfss://c@acct.dfs.core.windows.net/x"), "abfss://c@acct.dfs.core.windows.net/x");
    }

    #[test]
    fn locations_serialize_as_strings() {
        let l = Location::Object(ObjectUrl::parse("s3://b/out/x.parquet").unwrap());
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, "\"s3://b/out/x.parquet\"");
        assert_eq!(serde_json::from_str::<Location>(&json).unwrap(), l);
        let p: Location = serde_json::from_str("\"/o/x.csv\"").unwrap();
        assert_eq!(p, Path::new("/o/x.csv"));
    }
}
