//! The writer: one task owns the chain's head and appends entries in
//! batches (group commit). A caller's `append` returns only once its entry
//! is committed, so an answer never leaves before its audit entry is on
//! disk, while concurrent calls share one transaction and one sync.
//! Checkpoints are signed every `checkpoint_every` entries, every
//! `checkpoint_interval` when entries were added, and on `checkpoint()`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::chain::{self, Checkpoint, Signer};
use crate::store::{NewEntry, Store};
use crate::{AuditError, Entry};
use trama_plumbing::clock::now;

/// How the writer batches and checkpoints.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Sign a checkpoint after this many entries.
    pub checkpoint_every: u64,
    /// Sign a checkpoint at least this often while entries are added.
    pub checkpoint_interval: Duration,
    /// Also append each checkpoint (one JSON line, synced) to this file,
    /// which can be shipped off the machine.
    pub checkpoint_file: Option<PathBuf>,
    /// Most entries in one transaction.
    pub max_batch: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(60),
            checkpoint_file: None,
            max_batch: 512,
        }
    }
}

/// Where a writer sends an entry's sequence number, or why it failed.
type Ack = oneshot::Sender<Result<i64, String>>;

enum Msg {
    Append(Box<Entry>, Ack),
    Checkpoint(oneshot::Sender<Result<(), String>>),
}

/// A handle on the audit log; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    store: Store,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Append(..) => "Append",
            Msg::Checkpoint(_) => "Checkpoint",
        })
    }
}

impl AuditLog {
    /// Starts the writer over `store`, continuing its chain.
    pub async fn open(
        store: Store,
        signer: Signer,
        options: LogOptions,
    ) -> Result<AuditLog, AuditError> {
        let (seq, hash) = store.head().await?;
        // After a crash, the entries past the last checkpoint still need one.
        let sealed = store.last_checkpoint_seq().await?;
        let (tx, rx) = mpsc::channel(4096);
        let writer = Writer {
            store: store.clone(),
            conn: None,
            signer,
            options,
            seq,
            hash,
            since_checkpoint: u64::try_from(seq - sealed).unwrap_or(0),
        };
        tokio::spawn(writer.run(rx));
        Ok(AuditLog { tx, store })
    }

    /// Appends `entry` (its `time` is set now if empty) and returns its
    /// sequence number once it is committed.
    pub async fn append(&self, entry: Entry) -> Result<i64, AuditError> {
        let (done, wait) = oneshot::channel();
        let started = std::time::Instant::now();
        self.tx
            .send(Msg::Append(Box::new(entry), done))
            .await
            .map_err(|_| AuditError::Closed("the writer has stopped".into()))?;
        let backlog = self.tx.max_capacity() - self.tx.capacity();
        metrics::gauge!("trama_audit_backlog").set(backlog as f64);
        let acknowledged = wait.await;
        metrics::histogram!("trama_audit_append_seconds").record(started.elapsed().as_secs_f64());
        match acknowledged {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(e)) => Err(AuditError::Closed(e)),
            Err(_) => Err(AuditError::Closed("the writer has stopped".into())),
        }
    }

    /// Signs a checkpoint now if entries were added since the last one.
    pub async fn checkpoint(&self) -> Result<(), AuditError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Checkpoint(done))
            .await
            .map_err(|_| AuditError::Closed("the writer has stopped".into()))?;
        match wait.await {
            Ok(r) => r.map_err(AuditError::Closed),
            Err(_) => Err(AuditError::Closed("the writer has stopped".into())),
        }
    }

    /// The store, for reading.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// How long the writer keeps its connection without a commit.
const IDLE_RELEASE: Duration = Duration::from_millis(500);

struct Writer {
    store: Store,
    /// The connection commits go through, kept between them.
    conn: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    signer: Signer,
    options: LogOptions,
    seq: i64,
    hash: String,
    since_checkpoint: u64,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut next_checkpoint = tokio::time::Instant::now() + self.options.checkpoint_interval;
        loop {
            let first = tokio::select! {
                msg = rx.recv() => msg,
                // Idle: the connection goes back to the pool (which can then
                // be closed), to be taken again at the next commit.
                () = tokio::time::sleep(IDLE_RELEASE), if self.conn.is_some() => {
                    self.conn = None;
                    continue;
                }
                () = tokio::time::sleep_until(next_checkpoint) => {
                    next_checkpoint = tokio::time::Instant::now() + self.options.checkpoint_interval;
                    if let Err(e) = self.checkpoint().await {
                        tracing::error!(error = %e, "audit checkpoint failed");
                    }
                    continue;
                }
            };
            let Some(first) = first else { break };
            let mut appends = Vec::new();
            let mut checkpoints = Vec::new();
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append(e, done) => appends.push((e, done)),
                    Msg::Checkpoint(done) => checkpoints.push(done),
                }
                if appends.len() < self.options.max_batch {
                    next = rx.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.commit(appends).await;
            }
            if self.since_checkpoint >= self.options.checkpoint_every || !checkpoints.is_empty() {
                let result = self.checkpoint().await;
                if let Err(e) = &result {
                    tracing::error!(error = %e, "audit checkpoint failed");
                }
                for done in checkpoints {
                    let _ = done.send(result.clone());
                }
                next_checkpoint = tokio::time::Instant::now() + self.options.checkpoint_interval;
            }
        }
        // Every handle is gone: seal what was written.
        if let Err(e) = self.checkpoint().await {
            tracing::error!(error = %e, "final audit checkpoint failed");
        }
    }

    async fn commit(&mut self, appends: Vec<(Box<Entry>, Ack)>) {
        let mut seq = self.seq;
        let mut prev = self.hash.clone();
        let mut batch = Vec::with_capacity(appends.len());
        for (entry, _) in &appends {
            let mut entry = entry.as_ref().clone();
            if entry.time.is_empty() {
                entry.time = now();
            }
            seq += 1;
            let payload = entry.to_payload();
            let hash = chain::entry_hash(seq, &prev, &payload);
            let mut subjects = entry.subjects.clone();
            subjects.extend(entry.candidates.iter().cloned());
            subjects.sort();
            subjects.dedup();
            batch.push(NewEntry {
                seq,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
                payload,
                subjects,
            });
        }
        let written = match self.conn.take() {
            Some(c) => Ok(c),
            None => self.store.connection().await,
        };
        let written = match written {
            Ok(mut conn) => {
                let r = self.store.append(&mut conn, &batch).await;
                // After a failure the next commit starts on a fresh
                // connection.
                if r.is_ok() {
                    self.conn = Some(conn);
                }
                r
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                self.seq = seq;
                self.hash = prev;
                self.since_checkpoint += batch.len() as u64;
                for ((_, done), e) in appends.into_iter().zip(&batch) {
                    let _ = done.send(Ok(e.seq));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, entries = batch.len(), "audit write failed; the calls are refused");
                let message = e.to_string();
                for (_, done) in appends {
                    let _ = done.send(Err(message.clone()));
                }
                // Whatever the database holds now is the head.
                match self.store.head().await {
                    Ok((seq, hash)) => {
                        self.seq = seq;
                        self.hash = hash;
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read the audit head back"),
                }
            }
        }
    }

    async fn checkpoint(&mut self) -> Result<(), String> {
        if self.since_checkpoint == 0 || self.seq == 0 {
            return Ok(());
        }
        self.signer.reload();
        let cp = self.signer.seal(self.store.chain(), self.seq, &self.hash)?;
        self.store
            .add_checkpoint(&cp)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(path) = self.options.checkpoint_file.clone() {
            ship(path, cp.clone()).await?;
        }
        self.since_checkpoint = 0;
        tracing::debug!(seq = cp.seq, "audit checkpoint signed");
        Ok(())
    }
}

/// Appends `cp` to the checkpoint file at `path`, written and synced off
/// the runtime's threads: callers waiting for their acknowledgement are not
/// held behind a disk sync.
pub(crate) async fn ship(path: PathBuf, cp: Checkpoint) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        append_line(&path, &cp).map_err(|e| format!("{}: {e}", path.display()))
    })
    .await
    .map_err(|e| format!("the checkpoint file writer stopped: {e}"))?
}

fn append_line(path: &std::path::Path, cp: &Checkpoint) -> std::io::Result<()> {
    let line = serde_json::to_string(cp).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_all()
}

/// Reads a checkpoint file written by the log (one JSON object per line).
pub fn read_checkpoint_file(path: &std::path::Path) -> Result<Vec<Checkpoint>, AuditError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(AuditError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(l) {
            Ok(cp) => out.push(cp),
            // A last line cut short by a crash mid-write: nothing was
            // acknowledged on it, skip it.
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {
                tracing::warn!(file = %path.display(), line = i + 1, "ignoring a checkpoint line cut short by a crash");
            }
            Err(e) => {
                return Err(AuditError::Key {
                    path: path.to_path_buf(),
                    problem: format!("line {}: not a checkpoint: {e}", i + 1),
                });
            }
        }
    }
    Ok(out)
}
