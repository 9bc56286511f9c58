//! The checkpoint of a sync in progress: a journal of completed pages next to the output
//! file, so an interrupted sync can resume from its last completed page.
//!
//! The file contains JSON lines: a header with the settings that shape the data, then one
//! line per completed page with the call that fetched it and everything it returned.
//! Each line is written before the next page is recorded, so a killed process loses at
//! most the page being written, and lines reach the disk at least every 250 ms. A last
//! line cut off by a crash is ignored on resume, which makes every append atomic in
//! effect.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::driver::{PageRecord, Task};
use crate::exit::{Failure, FailureKind};

/// Maximum time a written page may wait before it is flushed to disk.
const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// Version of the checkpoint format; a file of another version is not resumed.
const FORMAT_VERSION: u32 = 1;

/// The settings a checkpoint was made with. A resume with other settings is refused,
/// because its pages would not belong to the same sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSettings {
    /// Format version.
    pub version: u32,
    /// The API origin, such as `https://acme.api-us1.com:443`.
    pub origin: String,
    /// SHA-256 of the connector component.
    pub component: String,
}

impl CheckpointSettings {
    /// Creates the settings record of a sync.
    pub fn new(origin: String, component: String) -> Self {
        CheckpointSettings {
            version: FORMAT_VERSION,
            origin,
            component,
        }
    }
}

/// One completed page in the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The call that fetched the page.
    pub task: Task,
    /// The page's records and next page tokens.
    pub page: PageRecord,
}

/// Returns the checkpoint path of an output file: `sync.json` gets `sync.json.checkpoint`.
pub fn path_for(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".checkpoint");
    output.with_file_name(name)
}

/// A checkpoint that pages are appended to. A new checkpoint's file is created with the
/// first page, so a sync that fails before reading any page leaves no checkpoint, and an
/// earlier one stays resumable.
pub struct Journal {
    file: Option<File>,
    path: PathBuf,
    settings: CheckpointSettings,
    pages: usize,
    flushed: Instant,
}

impl Journal {
    /// Prepares a new checkpoint at `path`; the first page replaces any earlier one.
    pub fn create(path: &Path, settings: &CheckpointSettings) -> Journal {
        Journal {
            file: None,
            path: path.to_owned(),
            settings: settings.clone(),
            pages: 0,
            flushed: Instant::now(),
        }
    }

    /// Opens the checkpoint at `path` to resume it: checks its settings against
    /// `settings`, and returns the journal, positioned to append, with its pages. When
    /// there is no checkpoint, because the interrupted run completed no page, the sync
    /// starts from the beginning.
    pub fn resume(
        path: &Path,
        settings: &CheckpointSettings,
    ) -> Result<(Journal, Vec<Entry>), Failure> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(
                    checkpoint = %path.display(),
                    "no checkpoint to resume, so the sync starts from the beginning"
                );
                return Ok((Journal::create(path, settings), Vec::new()));
            }
            Err(error) => return Err(io_failure("open", path, error)),
        };

        let mut lines = BufReader::new(file).split(b'\n');
        let header = lines
            .next()
            .transpose()
            .map_err(|error| io_failure("read", path, error))?
            .ok_or_else(|| corrupt(path, "it is empty"))?;
        let recorded: CheckpointSettings = serde_json::from_slice(&header)
            .map_err(|_| corrupt(path, "its header is unreadable"))?;
        if recorded != *settings {
            return Err(Failure::new(
                FailureKind::Configuration,
                format!(
                    "the checkpoint `{}` was made with other settings (API `{}`, component \
                     `{}`, format {}) than this run (API `{}`, component `{}`, format {}); \
                     resume with the same settings, or run without --resume to start over",
                    path.display(),
                    recorded.origin,
                    short(&recorded.component),
                    recorded.version,
                    settings.origin,
                    short(&settings.component),
                    settings.version
                ),
            ));
        }

        // Every complete line is a page; a cut-off last line is the page a crash
        // interrupted, and is fetched again.
        let mut entries = Vec::new();
        let mut valid_bytes = header.len() as u64 + 1;
        let mut pending = lines.peekable();
        while let Some(line) = pending.next() {
            let line = line.map_err(|error| io_failure("read", path, error))?;
            let is_last = pending.peek().is_none();
            match serde_json::from_slice::<Entry>(&line) {
                Ok(entry) => {
                    entries.push(entry);
                    valid_bytes += line.len() as u64 + 1;
                }
                Err(_) if is_last => break,
                Err(_) => {
                    return Err(corrupt(
                        path,
                        &format!("page {} is unreadable", entries.len() + 1),
                    ));
                }
            }
        }

        // Drop a cut-off tail so new pages start on a line of their own.
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|error| io_failure("open", path, error))?;
        file.set_len(valid_bytes.min(file.metadata().map(|m| m.len()).unwrap_or(valid_bytes)))
            .map_err(|error| io_failure("truncate", path, error))?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|error| io_failure("open", path, error))?;
        Ok((
            Journal {
                file: Some(file),
                path: path.to_owned(),
                settings: settings.clone(),
                pages: entries.len(),
                flushed: Instant::now(),
            },
            entries,
        ))
    }

    /// Appends one completed page and flushes it to disk, creating the file, readable by
    /// its owner only because pages hold e-mail addresses, on the first page.
    pub fn append(&mut self, task: &Task, page: &PageRecord) -> Result<(), Failure> {
        #[derive(Serialize)]
        struct EntryRef<'a> {
            task: &'a Task,
            page: &'a PageRecord,
        }

        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = create_private(&self.path)?;
                let mut header =
                    serde_json::to_vec(&self.settings).expect("settings encode as JSON");
                header.push(b'\n');
                let file = self.file.insert(file);
                file.write_all(&header)
                    .map_err(|error| io_failure("write", &self.path, error))?;
                file
            }
        };

        let mut line = serde_json::to_vec(&EntryRef { task, page }).expect("pages encode as JSON");
        line.push(b'\n');
        file.write_all(&line)
            .map_err(|error| io_failure("write", &self.path, error))?;
        self.pages += 1;

        // The write alone survives a crash or kill of this process. Flushing to disk, for a
        // crash of the machine, runs at most every `FLUSH_INTERVAL`, because a flush per
        // page costs more than the page on a fast API.
        if self.flushed.elapsed() >= FLUSH_INTERVAL {
            file.sync_data()
                .map_err(|error| io_failure("flush", &self.path, error))?;
            self.flushed = Instant::now();
        }
        Ok(())
    }

    /// Tells whether the checkpoint contains any page, so that `--resume` can continue it.
    pub fn has_pages(&self) -> bool {
        self.pages > 0
    }

    /// Deletes the checkpoint, once the output it led to is in place.
    pub fn remove(self) -> Result<(), Failure> {
        let Some(file) = self.file else {
            return Ok(());
        };
        drop(file);
        std::fs::remove_file(&self.path).map_err(|error| io_failure("remove", &self.path, error))
    }

    /// Returns the checkpoint's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates (or truncates) a file that only its owner can read and write.
fn create_private(path: &Path) -> Result<File, Failure> {
    // A file left by an earlier run may have looser permissions, so it is replaced.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_failure("replace", path, error)),
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map_err(|error| io_failure("create", path, error))
}

fn io_failure(action: &str, path: &Path, error: std::io::Error) -> Failure {
    Failure::new(
        FailureKind::Internal,
        format!(
            "failed to {action} the checkpoint `{}`: {error}",
            path.display()
        ),
    )
}

fn corrupt(path: &Path, reason: &str) -> Failure {
    Failure::new(
        FailureKind::Configuration,
        format!(
            "the checkpoint `{}` cannot be resumed because {reason}; delete it, or run without \
             --resume to start over",
            path.display()
        ),
    )
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}
