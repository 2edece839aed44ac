//! Certificates in operation: a node's TLS configuration held so that it can
//! be replaced while the node runs. [`TlsState`] reads the CA, the node's
//! certificate and key and the CRL, builds the rustls server and client
//! configurations, and swaps in new ones on [`TlsState::reload`] (or when
//! [`TlsState::watch`] sees a file change or a SIGHUP), keeping the previous
//! configuration if the new files are unusable or their CRL is older than
//! the one in force (which would un-revoke certificates). It answers whether a serial
//! number is revoked in the current CRL, reports the expiry of the node
//! certificate and the CA, and logs warnings as they approach.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::{ClientConfig, ServerConfig};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::configs::{build_client_config, build_server_config};
use crate::{CrlIssue, Material, TlsError, TlsFiles, canonical_serial, serial_hex};

/// Certificates expiring within this many days are warned about.
const EXPIRY_WARNING_DAYS: i64 = 30;
/// How often expiry warnings are repeated while [`TlsState::watch`] runs.
const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// The shortest polling interval [`TlsState::watch`] accepts.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A node's current TLS configuration, reloadable while the node runs.
/// Cloning is cheap and clones share the configuration.
#[derive(Clone)]
pub struct TlsState {
    inner: Arc<Inner>,
}

struct Inner {
    files: TlsFiles,
    current: ArcSwap<Current>,
    /// Serialises reloads, so a slower reload cannot replace a newer one.
    reloading: Mutex<()>,
}

/// What one successful load produced.
struct Current {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    stamps: Vec<Stamp>,
    cert_serial: Vec<u8>,
    cert_not_after: OffsetDateTime,
    /// Each CA certificate's subject and end of validity.
    cas: Vec<(String, OffsetDateTime)>,
    revoked: HashSet<Vec<u8>>,
    crl_next_update: Option<OffsetDateTime>,
    crl_numbers: Vec<String>,
    crl_issues: Vec<CrlIssue>,
}

/// The expiry of a node's certificates, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// The end of validity of the node's own certificate.
    pub cert_not_after: OffsetDateTime,
    /// Whole days until then; negative once it has passed.
    pub cert_days_left: i64,
    /// The end of validity of the CA certificate that expires first.
    pub ca_not_after: OffsetDateTime,
    /// Whole days until then; negative once it has passed.
    pub ca_days_left: i64,
    /// When the CRL's issuer promised the next CRL (the earliest, if the
    /// file holds several), or `None` without a CRL.
    pub crl_next_update: Option<OffsetDateTime>,
}

/// A file's length and modification time, `None` if it cannot be read.
type Stamp = Option<(u64, SystemTime)>;

impl fmt::Debug for TlsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsState")
            .field("files", &self.inner.files)
            .finish_non_exhaustive()
    }
}

impl TlsState {
    /// Reads `files` and builds the server and client configurations. Logs
    /// the loaded certificate and any expiry warnings.
    pub fn load(files: TlsFiles) -> Result<TlsState, TlsError> {
        let current = Current::read(&files)?;
        tracing::info!(
            cert = %files.cert.display(),
            serial = %serial_hex(&current.cert_serial),
            not_after = %current.cert_not_after.date(),
            crl = ?files.crl.as_ref().map(|p| p.display().to_string()),
            crl_number = %current.crl_numbers.join(","),
            revoked = current.revoked.len(),
            "tls configuration loaded"
        );
        current.log_expiry(&files);
        Ok(TlsState {
            inner: Arc::new(Inner {
                files,
                current: ArcSwap::from_pointee(current),
                reloading: Mutex::new(()),
            }),
        })
    }

    /// The files this state is read from.
    pub fn files(&self) -> &TlsFiles {
        &self.inner.files
    }

    /// The current server configuration.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.inner.current.load().server.clone()
    }

    /// The current client configuration.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.inner.current.load().client.clone()
    }

    /// Re-reads the CA, certificate, key and CRL files and, if they are
    /// usable, makes them current; otherwise keeps the previous
    /// configuration and returns why. New handshakes use the new
    /// configuration; open connections keep theirs. Logs the outcome and
    /// any expiry warnings. Reads files, so async callers should run it
    /// with `spawn_blocking`.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.reload_because("reload requested")
    }

    fn reload_because(&self, trigger: &str) -> Result<(), TlsError> {
        let _guard = self
            .inner
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let files = &self.inner.files;
        let old = self.inner.current.load();
        let new = match Current::read(files).and_then(|new| new.not_older_than(&old, files)) {
            Ok(new) => new,
            Err(e) => {
                tracing::error!(
                    trigger,
                    error = %e,
                    "tls reload refused; keeping the previous configuration"
                );
                return Err(e);
            }
        };
        let changed: Vec<String> = labelled_paths(files)
            .zip(old.stamps.iter().zip(&new.stamps))
            .filter(|(_, (before, after))| before != after)
            .map(|((label, _), _)| label.to_string())
            .collect();
        tracing::info!(
            trigger,
            changed = %if changed.is_empty() { "nothing".to_string() } else { changed.join(", ") },
            serial = %serial_hex(&new.cert_serial),
            previous_serial = %serial_hex(&old.cert_serial),
            not_after = %new.cert_not_after.date(),
            crl_number = %new.crl_numbers.join(","),
            revoked = new.revoked.len(),
            "tls configuration reloaded"
        );
        new.log_expiry(files);
        self.inner.current.store(Arc::new(new));
        Ok(())
    }

    /// Whether `serial` (big-endian, leading zero bytes ignored) is revoked
    /// in the current CRL. Always false without a CRL.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.inner
            .current
            .load()
            .revoked
            .contains(canonical_serial(serial))
    }

    /// The expiry of the current node certificate and CA, with days left
    /// counted from now.
    pub fn expiry(&self) -> Expiry {
        let current = self.inner.current.load();
        let now = OffsetDateTime::now_utc();
        let ca_not_after = current
            .cas
            .iter()
            .map(|(_, t)| *t)
            .min()
            .unwrap_or(current.cert_not_after);
        Expiry {
            cert_not_after: current.cert_not_after,
            cert_days_left: (current.cert_not_after - now).whole_days(),
            ca_not_after,
            ca_days_left: (ca_not_after - now).whole_days(),
            crl_next_update: current.crl_next_update,
        }
    }

    /// Reloads in the background whenever the length or modification time
    /// of one of the files changes (checked every `interval`) and on SIGHUP,
    /// and repeats the expiry warnings once a day. Reloads that fail keep
    /// the previous configuration and are logged; the next change retries.
    /// Must be called within a tokio runtime; abort the handle to stop.
    pub fn watch(self, interval: Duration) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut hangup = Hangup::listen();
            let mut ticker = tokio::time::interval(interval.max(MIN_POLL_INTERVAL));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seen = self.inner.current.load().stamps.clone();
            let mut next_expiry_check = tokio::time::Instant::now() + EXPIRY_CHECK_INTERVAL;
            loop {
                let sighup = tokio::select! {
                    _ = ticker.tick() => false,
                    () = hangup.recv() => true,
                };
                let now = stamps(&self.inner.files);
                let trigger = if sighup {
                    Some("SIGHUP".to_string())
                } else {
                    let changed: Vec<String> = labelled_paths(&self.inner.files)
                        .zip(seen.iter().zip(&now))
                        .filter(|(_, (before, after))| before != after)
                        .map(|((_, path), _)| path.display().to_string())
                        .collect();
                    (!changed.is_empty()).then(|| format!("changed: {}", changed.join(", ")))
                };
                if let Some(trigger) = trigger {
                    seen = now;
                    let state = self.clone();
                    // Errors are logged by reload_because.
                    if let Err(e) =
                        tokio::task::spawn_blocking(move || state.reload_because(&trigger)).await
                    {
                        tracing::error!(error = %e, "tls reload task failed");
                    }
                }
                if tokio::time::Instant::now() >= next_expiry_check {
                    next_expiry_check += EXPIRY_CHECK_INTERVAL;
                    self.inner.current.load().log_expiry(&self.inner.files);
                }
            }
        })
    }
}

/// SIGHUP, where there is such a thing.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn listen() -> Hangup {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::hangup()) {
                Ok(signal) => Hangup {
                    signal: Some(signal),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; reloading on file changes only");
                    Hangup { signal: None }
                }
            }
        }
        #[cfg(not(unix))]
        Hangup {}
    }

    /// Waits for the next SIGHUP; never returns without one.
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            if signal.recv().await.is_some() {
                return;
            }
            self.signal = None;
        }
        std::future::pending::<()>().await;
    }
}

/// The files of `files` with a short label each, in a fixed order.
fn labelled_paths(files: &TlsFiles) -> impl Iterator<Item = (&'static str, &Path)> {
    [
        ("ca", Some(files.ca.as_path())),
        ("cert", Some(files.cert.as_path())),
        ("key", Some(files.key.as_path())),
        ("crl", files.crl.as_deref()),
    ]
    .into_iter()
    .filter_map(|(label, path)| path.map(|p| (label, p)))
}

fn stamps(files: &TlsFiles) -> Vec<Stamp> {
    labelled_paths(files).map(|(_, path)| stamp(path)).collect()
}

/// A file's size and modification time, if it can be read.
fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Calls `on_change` whenever `path` changes (size or modification time,
/// checked every `interval`) or the process gets SIGHUP — the same triggers
/// as [`TlsState::watch`], for other files a node reloads (the gateway's
/// policy). `on_change` runs off the runtime's worker threads. Abort the
/// handle to stop.
pub fn watch_file(
    path: PathBuf,
    interval: Duration,
    on_change: impl Fn(&Path) + Send + Sync + 'static,
) -> JoinHandle<()> {
    let on_change = Arc::new(on_change);
    tokio::spawn(async move {
        let mut hangup = Hangup::listen();
        let mut ticker = tokio::time::interval(interval.max(MIN_POLL_INTERVAL));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = stamp(&path);
        loop {
            let sighup = tokio::select! {
                _ = ticker.tick() => false,
                () = hangup.recv() => true,
            };
            let now = stamp(&path);
            if !sighup && now == seen {
                continue;
            }
            seen = now;
            let (on_change, path) = (on_change.clone(), path.clone());
            if let Err(e) = tokio::task::spawn_blocking(move || on_change(&path)).await {
                tracing::error!(error = %e, "reload task failed");
            }
        }
    })
}

impl Current {
    fn read(files: &TlsFiles) -> Result<Current, TlsError> {
        // Taken before reading, so a change made while reading is seen as a
        // change afterwards.
        let stamps = stamps(files);
        let material = Material::load(files)?;
        let server = build_server_config(&material)?;
        let client = build_client_config(&material)?;
        let (cert_serial, cert_not_after) = match material.certs.first() {
            Some(der) => {
                let cert = parse(der, &files.cert)?;
                (
                    canonical_serial(cert.raw_serial()).to_vec(),
                    cert.validity().not_after.to_datetime(),
                )
            }
            None => return Err(no_certificate(&files.cert)),
        };
        let mut cas = Vec::with_capacity(material.ca.len());
        for der in &material.ca {
            let ca = parse(der, &files.ca)?;
            cas.push((
                ca.subject().to_string(),
                ca.validity().not_after.to_datetime(),
            ));
        }
        let (revoked, crl_next_update, crl_numbers, crl_issues) = match material.crl {
            Some(crls) => (crls.revoked, crls.next_update, crls.numbers, crls.issues),
            None => (HashSet::new(), None, Vec::new(), Vec::new()),
        };
        Ok(Current {
            server,
            client,
            stamps,
            cert_serial,
            cert_not_after,
            cas,
            revoked,
            crl_next_update,
            crl_numbers,
            crl_issues,
        })
    }

    /// Refuses this configuration if one of its CRLs is older than the
    /// list of the same CA `in_force` holds: put in force, it would
    /// un-revoke the certificates revoked since.
    fn not_older_than(self, in_force: &Current, files: &TlsFiles) -> Result<Current, TlsError> {
        for crl in &self.crl_issues {
            let Some(current) = in_force.crl_issues.iter().find(|c| c.issuer == crl.issuer) else {
                continue;
            };
            if crl.older_than(current) {
                return Err(TlsError::Pem {
                    path: files.crl.clone().unwrap_or_default(),
                    what: format!(
                        "the revocation list of {} ({crl}) is older than the one in force \
                         ({current}) and would un-revoke certificates; install the CA's \
                         latest list (`trama pki revoke` writes it)",
                        crl.issuer
                    ),
                });
            }
        }
        Ok(self)
    }

    /// Logs an error for each expired certificate or revoked own
    /// certificate, and a warning for each certificate expiring soon and for
    /// a CRL past its next update.
    fn log_expiry(&self, files: &TlsFiles) {
        let now = OffsetDateTime::now_utc();
        log_validity("node certificate", &files.cert, self.cert_not_after, now);
        for (subject, not_after) in &self.cas {
            log_validity(
                &format!("CA certificate {subject}"),
                &files.ca,
                *not_after,
                now,
            );
        }
        if let (Some(next), Some(path)) = (self.crl_next_update, &files.crl)
            && next < now
        {
            tracing::warn!(
                file = %path.display(),
                next_update = %next,
                "the certificate revocation list is past its next update; publish a fresh one"
            );
        }
        if self.revoked.contains(&self.cert_serial) {
            tracing::error!(
                file = %files.cert.display(),
                serial = %serial_hex(&self.cert_serial),
                "this node's own certificate is revoked; peers checking the CRL will refuse it"
            );
        }
    }
}

fn log_validity(what: &str, path: &Path, not_after: OffsetDateTime, now: OffsetDateTime) {
    let days_left = (not_after - now).whole_days();
    if not_after <= now {
        tracing::error!(
            file = %path.display(),
            not_after = %not_after,
            "the {what} has expired"
        );
    } else if days_left < EXPIRY_WARNING_DAYS {
        tracing::warn!(
            file = %path.display(),
            days_left,
            not_after = %not_after,
            "the {what} expires in {days_left} days"
        );
    }
}

fn parse<'a>(der: &'a [u8], path: &Path) -> Result<X509Certificate<'a>, TlsError> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            what: format!("the certificate could not be parsed: {e}"),
        })
}

fn no_certificate(path: &Path) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        what: "no certificate found".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::RequireRole;
    use crate::identity::Role;
    use crate::server::{PeerInfo, incoming_reloading, server_config};
    use crate::test_support::{Pki, WAIT, connect, refused_by_server, serial_of};
    use tokio_stream::StreamExt;
    use tonic::{Code, Request};

    fn request_from(peer: &PeerInfo) -> Request<()> {
        let mut request = Request::new(());
        request.extensions_mut().insert(peer.clone());
        request
    }

    #[tokio::test]
    async fn a_reloaded_crl_refuses_new_handshakes_and_later_calls_on_open_connections() {
        let pki = Pki::new();
        let state = TlsState::load(pki.issue("acme", Role::Connector, 30, 0)).unwrap();
        let revoked = pki.issue("comune", Role::Client, 30, 0);
        let other = pki.issue("caritas", Role::Client, 30, 0);
        let revoked_client = crate::client::client_config(&revoked).unwrap();
        let other_client = crate::client::client_config(&other).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = incoming_reloading(listener, state.clone());
        let mut next_peer = async || {
            let stream = tokio::time::timeout(WAIT, incoming.next()).await.unwrap();
            stream.unwrap().unwrap().peer().clone()
        };

        let _open = connect(addr, revoked_client.clone()).await.unwrap();
        let peer = next_peer().await;
        assert_eq!(peer.serial, serial_of(&revoked));
        assert!(!state.is_revoked(&peer.serial));
        let authz = RequireRole::new("demo", Role::Client, "test").with_revocation(state.clone());
        let plain = RequireRole::new("demo", Role::Client, "test");
        assert!(authz.check(&request_from(&peer)).is_ok());

        crate::pki::revoke(pki.path(), &revoked.cert).unwrap();
        // Not yet reloaded: still the old CRL.
        assert!(!state.is_revoked(&peer.serial));
        let _second = connect(addr, revoked_client.clone()).await.unwrap();
        assert_eq!(next_peer().await.serial, peer.serial);

        state.reload().unwrap();
        assert!(state.is_revoked(&peer.serial));
        let mut padded = vec![0];
        padded.extend_from_slice(&peer.serial);
        assert!(state.is_revoked(&padded));
        assert!(!state.is_revoked(&serial_of(&other)));
        assert!(!state.is_revoked(&[]));

        // The connection opened before the revocation is refused at its
        // next call.
        let status = authz.check(&request_from(&peer)).unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        assert!(status.message().contains("has been revoked"), "{status:?}");
        assert!(plain.check(&request_from(&peer)).is_ok());

        // A new handshake is refused; the next connection the server yields
        // is the other client's.
        assert!(refused_by_server(connect(addr, revoked_client).await).await);
        let _other = connect(addr, other_client).await.unwrap();
        assert_eq!(next_peer().await.serial, serial_of(&other));
    }

    #[tokio::test]
    async fn an_unusable_crl_is_refused_naming_the_file_and_reload_keeps_the_old_configuration() {
        let pki = Pki::new();
        let files = pki.issue("acme", Role::Connector, 30, 0);
        let revoked = pki.issue("comune", Role::Client, 30, 0);
        crate::pki::revoke(pki.path(), &revoked.cert).unwrap();
        let state = TlsState::load(files.clone()).unwrap();
        let before = (state.server_config(), state.client_config());
        let crl = files.crl.clone().unwrap();
        let foreign = Pki::new();
        let foreign_crl = std::fs::read(foreign.path().join(crate::pki::CRL_FILE)).unwrap();

        for (contents, why) in [
            (
                b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n".to_vec(),
                "not a valid",
            ),
            (
                b"not pem at all\n".to_vec(),
                "no certificate revocation list",
            ),
            (foreign_crl, "not signed by a CA"),
        ] {
            std::fs::write(&crl, contents).unwrap();
            for error in [
                state.reload().unwrap_err(),
                server_config(&files).unwrap_err(),
                crate::client::client_config(&files).unwrap_err(),
            ] {
                let message = error.to_string();
                assert!(message.contains(&crl.display().to_string()), "{message}");
                assert!(message.contains(why), "{message}");
            }
            assert!(Arc::ptr_eq(&before.0, &state.server_config()));
            assert!(Arc::ptr_eq(&before.1, &state.client_config()));
            assert!(state.is_revoked(&serial_of(&revoked)));
        }
        std::fs::remove_file(&crl).unwrap();
        assert!(state.reload().is_err());
        assert!(state.is_revoked(&serial_of(&revoked)));
    }

    #[test]
    fn a_crl_older_than_the_one_in_force_is_refused_and_the_revocation_stays() {
        let pki = Pki::new();
        let files = pki.issue("acme", Role::Connector, 30, 0);
        let revoked = pki.issue("comune", Role::Client, 30, 0);
        let crl = files.crl.clone().unwrap();
        let first = std::fs::read(&crl).unwrap();
        let state = TlsState::load(files).unwrap();
        crate::pki::revoke(pki.path(), &revoked.cert).unwrap();
        let second = std::fs::read(&crl).unwrap();
        state.reload().unwrap();
        assert!(state.is_revoked(&serial_of(&revoked)));
        let before = state.server_config();

        // CRL number 1 back in the file: refused, naming the file.
        std::fs::write(&crl, &first).unwrap();
        let message = state.reload().unwrap_err().to_string();
        assert!(message.starts_with(&crl.display().to_string()), "{message}");
        assert!(
            message.contains("(number 1, issued")
                && message.contains("older than the one in force (number 2,"),
            "{message}"
        );
        assert!(state.is_revoked(&serial_of(&revoked)));
        assert!(Arc::ptr_eq(&before, &state.server_config()));

        // The same list again, and a newer one, are taken.
        std::fs::write(&crl, &second).unwrap();
        state.reload().unwrap();
        crate::pki::revoke(pki.path(), &files_of(&pki, "caritas")).unwrap();
        state.reload().unwrap();
        assert!(state.is_revoked(&serial_of(&revoked)));
    }

    /// A freshly issued client certificate of `org`.
    fn files_of(pki: &Pki, org: &str) -> PathBuf {
        pki.issue(org, Role::Client, 30, 0).cert
    }

    #[tokio::test]
    async fn watch_reloads_when_a_file_changes() {
        let pki = Pki::new();
        let state = TlsState::load(pki.issue("acme", Role::Connector, 30, 0)).unwrap();
        let revoked = pki.issue("comune", Role::Client, 30, 0);
        let before = state.server_config();
        let watcher = state.clone().watch(Duration::from_millis(20));
        crate::pki::revoke(pki.path(), &revoked.cert).unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        while !state.is_revoked(&serial_of(&revoked)) {
            assert!(tokio::time::Instant::now() < deadline, "no reload");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!Arc::ptr_eq(&before, &state.server_config()));
        watcher.abort();
    }

    #[test]
    fn expiry_reports_the_days_left() {
        let pki = Pki::new();
        let state = TlsState::load(pki.issue("acme", Role::Connector, 10, 0)).unwrap();
        let expiry = state.expiry();
        assert!((9..=10).contains(&expiry.cert_days_left), "{expiry:?}");
        assert!((3648..=3650).contains(&expiry.ca_days_left), "{expiry:?}");
        let now = OffsetDateTime::now_utc();
        assert!(expiry.cert_not_after > now + time::Duration::days(9));
        assert!(expiry.crl_next_update > Some(now + time::Duration::days(29)));

        // An expired node certificate is loaded (and logged), and reported.
        let expired = TlsState::load(pki.issue("comune", Role::Client, -3, 5)).unwrap();
        assert!(
            expired.expiry().cert_days_left < -1,
            "{:?}",
            expired.expiry()
        );
    }
}
