//! Model files read by byte ranges: natively a file, in the browser a `Blob`.

#[cfg(not(target_family = "wasm"))]
use crate::error::{PalateError, Result};

/// Byte ranges of a model file (a `.bpk`, a GGUF) that lives elsewhere, read on demand: in the browser a `Blob` (a cached
/// or downloaded file, read with `FileReaderSync` in the worker), so a model loads a tensor at a
/// time and the file is never copied whole into wasm memory.
pub trait ByteRanges: Send + Sync {
    /// Size of the whole file.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes `start..end` (`end <= len`); the error is worded for the user.
    fn read(&self, start: usize, end: usize) -> std::result::Result<Vec<u8>, String>;
}

/// A file on disk as [`ByteRanges`].
#[cfg(not(target_family = "wasm"))]
pub struct FileRanges {
    file: std::sync::Mutex<std::fs::File>,
    len: usize,
}

#[cfg(not(target_family = "wasm"))]
impl FileRanges {
    pub fn new(file: std::fs::File, len: usize) -> Self {
        Self { file: std::sync::Mutex::new(file), len }
    }

    /// Opens `path`; a missing file is [`PalateError::MissingFile`], any other failure [`PalateError::Io`].
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let file = path.display().to_string();
        let io = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::NotFound {
                PalateError::MissingFile { file: file.clone(), detail: "no such file".into() }
            } else {
                PalateError::Io { file: file.clone(), detail: e.to_string() }
            }
        };
        let handle = std::fs::File::open(path).map_err(io)?;
        let len = handle.metadata().map_err(io)?.len() as usize;
        Ok(Self::new(handle, len))
    }
}

#[cfg(not(target_family = "wasm"))]
impl ByteRanges for FileRanges {
    fn len(&self) -> usize {
        self.len
    }

    fn read(&self, start: usize, end: usize) -> std::result::Result<Vec<u8>, String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self.file.lock().map_err(|_| "the file's lock is poisoned".to_string())?;
        let mut bytes = vec![0u8; end.saturating_sub(start)];
        file.seek(SeekFrom::Start(start as u64)).and_then(|_| file.read_exact(&mut bytes)).map_err(|e| e.to_string())?;
        Ok(bytes)
    }
}


/// Bytes already in memory as [`ByteRanges`] (tests; small files).
pub struct MemoryRanges(pub Vec<u8>);

impl ByteRanges for MemoryRanges {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn read(&self, start: usize, end: usize) -> std::result::Result<Vec<u8>, String> {
        self.0.get(start..end).map(<[u8]>::to_vec).ok_or_else(|| format!("bytes {start}..{end} are outside a {}-byte file", self.0.len()))
    }
}
