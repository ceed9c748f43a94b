//! The replay journal: a write-ahead log in front of a remote store (PostgreSQL).
//!
//! A remote store can fall behind the request rate, and what waits in memory for it dies with
//! the process on `kill -9`. With a journal, a thread of its own appends every submitted record
//! to a segment file as soon as it arrives (one JSON line each; the page cache keeps it when the
//! process dies) and only then hands it to the store writer. A segment is deleted once every
//! record in it is committed. At start, segments left by an earlier process are replayed into
//! the store first: inserts skip ids already stored, so a record committed just before the
//! crash is not counted twice.
//!
//! One process per journal directory: an exclusive lock on `<dir>/lock` guards it, and a second
//! process runs without a journal (with a warning).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::record::ReplayRecord;

/// Records per segment before a new one is started.
pub const SEGMENT_RECORDS: u64 = 4096;

/// A segment file: `<number>.jsonl`, numbered in write order.
fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:012}.jsonl"))
}

fn segment_number(p: &Path) -> Option<u64> {
    if p.extension()? != "jsonl" {
        return None;
    }
    p.file_stem()?.to_str()?.parse().ok()
}

/// The segments in `dir`, oldest first.
pub fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out: Vec<(u64, PathBuf)> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter_map(|p| segment_number(&p).map(|n| (n, p)))
        .collect();
    out.sort();
    Ok(out)
}

/// What a segment left by an earlier process holds. A line cut by the crash (the last one) or
/// otherwise unreadable is counted, not fatal.
pub struct Recovered {
    pub records: Vec<ReplayRecord>,
    pub unreadable_lines: u64,
}

pub fn read_segment(path: &Path) -> std::io::Result<Recovered> {
    let mut out = Recovered {
        records: Vec::new(),
        unreadable_lines: 0,
    };
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<ReplayRecord>(&line) {
            Ok(r) => out.records.push(r),
            Err(_) => out.unreadable_lines += 1,
        }
    }
    Ok(out)
}

/// The open journal of this process: the lock and the segment being written.
pub struct Journal {
    dir: PathBuf,
    _lock: File,
    current: Option<(u64, BufWriter<File>)>,
    in_current: u64,
    next_segment: u64,
}

/// A segment closed for writing: delete it once its records up to `last_seq` are committed.
#[derive(Debug)]
pub struct Sealed {
    pub segment: u64,
    pub path: PathBuf,
}

impl Journal {
    /// Opens (creating) `dir` and takes its lock. `Ok(None)` when another process holds it.
    pub fn open(dir: &Path) -> std::io::Result<Option<Self>> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        let next_segment = segments(dir)?.last().map_or(0, |(n, _)| n + 1);
        Ok(Some(Journal {
            dir: dir.to_path_buf(),
            _lock: lock,
            current: None,
            in_current: 0,
            next_segment,
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record; returns the segment it went to, and the segment sealed by a
    /// rotation before it, if any.
    pub fn append(&mut self, r: &ReplayRecord) -> std::io::Result<(u64, Option<Sealed>)> {
        let mut sealed = None;
        if self.in_current >= SEGMENT_RECORDS {
            sealed = self.seal()?;
        }
        if self.current.is_none() {
            let n = self.next_segment;
            self.next_segment += 1;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.dir, n))?;
            self.current = Some((n, BufWriter::with_capacity(64 * 1024, f)));
            self.in_current = 0;
        }
        let Some((n, w)) = self.current.as_mut() else {
            return Err(std::io::Error::other("no journal segment"));
        };
        let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        w.write_all(&line)?;
        self.in_current += 1;
        Ok((*n, sealed))
    }

    /// Hands what was appended to the operating system: from here a killed process loses
    /// nothing of it. `sync` also asks the disk (power loss).
    pub fn flush(&mut self, sync: bool) -> std::io::Result<()> {
        if let Some((_, w)) = self.current.as_mut() {
            w.flush()?;
            if sync {
                w.get_ref().sync_data()?;
            }
        }
        Ok(())
    }

    /// Closes the current segment (flushed and synced); `None` when none is open.
    pub fn seal(&mut self) -> std::io::Result<Option<Sealed>> {
        let Some((n, mut w)) = self.current.take() else {
            return Ok(None);
        };
        w.flush()?;
        w.get_ref().sync_data()?;
        Ok(Some(Sealed {
            segment: n,
            path: segment_path(&self.dir, n),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ReplayRecord {
        ReplayRecord {
            id: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn segments_rotate_and_read_back_with_a_torn_last_line() {
        let dir = std::env::temp_dir().join(format!("vsr-journal-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut j = Journal::open(&dir).unwrap().unwrap();
        assert!(
            Journal::open(&dir).unwrap().is_none(),
            "a second journal on the same directory is refused"
        );
        let mut sealed = Vec::new();
        for i in 0..SEGMENT_RECORDS + 3 {
            let (_, s) = j.append(&record(&format!("r{i}"))).unwrap();
            sealed.extend(s);
        }
        j.flush(false).unwrap();
        assert_eq!(sealed.len(), 1);
        let segs = segments(&dir).unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(
            read_segment(&segs[0].1).unwrap().records.len() as u64,
            SEGMENT_RECORDS
        );
        // A crash in the middle of a line leaves it unreadable; the rest is kept.
        let mut f = OpenOptions::new().append(true).open(&segs[1].1).unwrap();
        f.write_all(b"{\"id\":\"cut").unwrap();
        let rec = read_segment(&segs[1].1).unwrap();
        assert_eq!(
            (rec.records.len(), rec.unreadable_lines),
            (3, 1),
            "three whole records and the torn line"
        );
        assert_eq!(rec.records[2].id, format!("r{}", SEGMENT_RECORDS + 2));
        drop(j);
        // The next process numbers its segments after the old ones.
        let mut j = Journal::open(&dir).unwrap().unwrap();
        let (n, _) = j.append(&record("next")).unwrap();
        assert_eq!(n, segs[1].0 + 1);
        let _ = fs::remove_dir_all(&dir);
    }
}
