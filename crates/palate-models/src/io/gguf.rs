//! GGUF, llama.cpp's model file (spec: ggml's `docs/gguf.md`): a header, typed metadata, a tensor
//! table, then the tensor data, each tensor aligned to `general.alignment` (32 by default).
//!
//! Read by byte ranges ([`ByteRanges`]): the header, metadata and table are read when the file is
//! opened, in growing chunks; a tensor's bytes only when it is asked for, so a model file is never
//! held whole in memory (in the browser it stays a `Blob`). Every count, length and offset is
//! checked against the file's size before anything is allocated for it, so a hostile or truncated
//! file is an [`PalateError::InvalidWeights`] naming the key or tensor, never a panic or an
//! allocation the file's size cannot back.
//!
//! Tensors: F32, F16, BF16, Q8_0, Q4_0, Q4_1 and the K-quants Q4_K and Q6_K (256-value super-blocks
//! with 6- or 8-bit sub-block scales, what most published GGUFs use), dequantized to f32 as ggml
//! does (`ggml-quants.c`'s `dequantize_row_*`, the same order of float operations); any other type
//! is an error naming the tensor and its type. Shapes are reported in PyTorch order (slowest axis first):
//! GGUF lists `ne[0]` (the contiguous axis) first, so `[576, 49152]` in the file is a
//! `[49152, 576]` row-major matrix.
//!
//! Written here rather than taken from a crate because the readers on crates.io read from a file
//! or a whole buffer, while Palate reads a `Blob` by ranges in the worker.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{PalateError, Result};
use crate::io::ranges::ByteRanges;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Metadata is read in chunks of this size as the parser needs it.
const CHUNK: usize = 1 << 20;
/// Arrays of arrays deeper than this are refused (the spec allows nesting; real files use none).
const MAX_DEPTH: usize = 4;
/// Dimensions a tensor may have (ggml's `GGML_MAX_DIMS`).
const MAX_DIMS: usize = 4;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// An integer of any width, when it is one and not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// ggml tensor types Palate reads (ids from ggml's `enum ggml_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q8_0,
    Q4K,
    Q6K,
}

impl TensorType {
    fn from_id(id: u32) -> std::result::Result<Self, String> {
        Ok(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            12 => Self::Q4K,
            14 => Self::Q6K,
            30 => Self::BF16,
            other => {
                let name = match other {
                    6 => "Q5_0",
                    7 => "Q5_1",
                    9 => "Q8_1",
                    10 => "Q2_K",
                    11 => "Q3_K",
                    13 => "Q5_K",
                    15 => "Q8_K",
                    _ => "",
                };
                return Err(if name.is_empty() {
                    format!("unknown ggml tensor type {other}")
                } else {
                    format!("tensor type {name} is not supported yet (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K are)")
                });
            }
        })
    }

    /// (values per block, bytes per block).
    pub fn block(self) -> (usize, usize) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q8_0 => (32, 34),
            Self::Q4K => (256, 144),
            Self::Q6K => (256, 210),
        }
    }
}

/// One entry of the tensor table.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    /// PyTorch order: slowest axis first (the file's `ne` reversed).
    pub shape: Vec<usize>,
    pub kind: TensorType,
    /// Absolute byte range in the file.
    pub start: usize,
    pub end: usize,
}

impl TensorInfo {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// An opened GGUF file: metadata and tensor table in memory, tensor data behind [`ByteRanges`].
pub struct Gguf {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    /// In file order.
    pub tensors: Vec<TensorInfo>,
    /// The name the user knows the file by, for errors.
    pub file: String,
    read: Arc<dyn ByteRanges>,
}

impl std::fmt::Debug for Gguf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gguf").field("file", &self.file).field("version", &self.version).field("tensors", &self.tensors.len()).finish()
    }
}

/// Whether `bytes` start like a GGUF file.
pub fn is_gguf(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The header and tables, read forward through a buffer that grows by [`CHUNK`] as needed.
struct Cursor<'a> {
    read: &'a dyn ByteRanges,
    buf: Vec<u8>,
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.read.len()).ok_or_else(|| {
            format!("truncated: {what} needs {n} bytes at offset {}, the file has {}", self.pos, self.read.len())
        })?;
        if end > self.buf.len() {
            let upto = end.max(self.buf.len() + CHUNK).min(self.read.len());
            let more = self.read.read(self.buf.len(), upto)?;
            if more.len() != upto - self.buf.len() {
                return Err(format!("reading bytes {}..{upto} returned {} bytes", self.buf.len(), more.len()));
            }
            self.buf.extend_from_slice(&more);
        }
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of items each at least `min_bytes` long: refused when the rest of the file cannot
    /// hold that many, before anything is allocated for them.
    fn count(&mut self, min_bytes: usize, what: &str) -> std::result::Result<usize, String> {
        let n = self.u64(what)?;
        let room = (self.read.len() - self.pos) / min_bytes.max(1);
        usize::try_from(n).ok().filter(|&n| n <= room).ok_or_else(|| format!("{what} is {n}, more than the rest of the file can hold"))
    }

    fn string(&mut self, what: &str) -> std::result::Result<String, String> {
        let n = self.count(1, what)?;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }

    fn value(&mut self, kind: u32, key: &str, depth: usize) -> std::result::Result<Value, String> {
        Ok(match kind {
            0 => Value::U8(self.array::<1>(key)?[0]),
            1 => Value::I8(self.array::<1>(key)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(key)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(key)?)),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(i32::from_le_bytes(self.array(key)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(key)?)),
            7 => match self.array::<1>(key)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("{key}: bool byte {b} is neither 0 nor 1")),
            },
            8 => Value::String(self.string(key)?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(format!("{key}: arrays nested deeper than {MAX_DEPTH}"));
                }
                let item = self.u32(key)?;
                let min = match item {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    other => return Err(format!("{key}: unknown array item type {other}")),
                };
                let n = self.count(min, key)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(i64::from_le_bytes(self.array(key)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(key)?)),
            other => return Err(format!("{key}: unknown metadata value type {other}")),
        })
    }
}

impl Gguf {
    /// Opens a GGUF file on disk.
    #[cfg(not(target_family = "wasm"))]
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let read = crate::io::ranges::FileRanges::open(path)?;
        Self::open(Arc::new(read), &path.display().to_string())
    }

    /// Reads the header, metadata and tensor table of the file behind `read` (`file` names it in
    /// errors) and checks every tensor's byte range against the file.
    pub fn open(read: Arc<dyn ByteRanges>, file: &str) -> Result<Self> {
        let invalid = |detail: String| PalateError::InvalidWeights { file: file.to_string(), detail };
        let mut c = Cursor { read: read.as_ref(), buf: Vec::new(), pos: 0 };
        if c.take(4, "the magic number").ok() != Some(MAGIC.as_slice()) {
            return Err(invalid("not a GGUF file (it does not start with \"GGUF\")".into()));
        }
        let version = c.u32("the version").map_err(invalid)?;
        if !(2..=3).contains(&version) {
            return Err(invalid(format!("GGUF version {version} is not supported (2 and 3 are)")));
        }
        // Each tensor info is at least 4+8 (name) + 4 (dims) + 4 (type) + 8 (offset) bytes; a
        // key-value pair at least 8 (key) + 4 (type) + 1.
        let tensor_count = c.count(28, "the tensor count").map_err(invalid)?;
        let kv_count = c.count(13, "the metadata count").map_err(invalid)?;
        let mut metadata = BTreeMap::new();
        for i in 0..kv_count {
            let key = c.string(&format!("metadata key {i}")).map_err(invalid)?;
            let kind = c.u32(&key).map_err(invalid)?;
            let value = c.value(kind, &key, 0).map_err(invalid)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(invalid(format!("metadata key {key} appears twice")));
            }
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => v.as_u64().filter(|a| *a > 0 && a.is_power_of_two()).ok_or_else(|| {
                invalid(format!("general.alignment {v:?} is not a power of two"))
            })?,
        };
        let mut raw = Vec::with_capacity(tensor_count);
        for i in 0..tensor_count {
            let name = c.string(&format!("tensor {i}'s name")).map_err(invalid)?;
            let dims = c.u32(&name).map_err(invalid)? as usize;
            if dims == 0 || dims > MAX_DIMS {
                return Err(invalid(format!("tensor {name} has {dims} dimensions (1 to {MAX_DIMS} are valid)")));
            }
            let mut ne = Vec::with_capacity(dims);
            for _ in 0..dims {
                ne.push(c.u64(&name).map_err(invalid)?);
            }
            let kind_id = c.u32(&name).map_err(invalid)?;
            let kind = TensorType::from_id(kind_id).map_err(|e| invalid(format!("tensor {name}: {e}")))?;
            let offset = c.u64(&name).map_err(invalid)?;
            if offset % alignment != 0 {
                return Err(invalid(format!("tensor {name}'s offset {offset} is not a multiple of the alignment {alignment}")));
            }
            raw.push((name, ne, kind, offset));
        }
        let data_start = (c.pos as u64).div_ceil(alignment) * alignment;
        let len = read.len() as u64;
        let mut tensors = Vec::with_capacity(raw.len());
        let mut names = std::collections::HashSet::new();
        for (name, ne, kind, offset) in raw {
            if !names.insert(name.clone()) {
                return Err(invalid(format!("tensor {name} appears twice")));
            }
            let numel = ne.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).filter(|&n| n > 0);
            let (per_block, block_bytes) = kind.block();
            let bytes = numel
                .filter(|n| ne[0] % per_block as u64 == 0 && n % per_block as u64 == 0)
                .and_then(|n| (n / per_block as u64).checked_mul(block_bytes as u64))
                .ok_or_else(|| invalid(format!("tensor {name}'s shape {ne:?} does not fit its type {kind:?}")))?;
            let start = data_start.checked_add(offset);
            let end = start.and_then(|s| s.checked_add(bytes)).filter(|&e| e <= len).ok_or_else(|| {
                invalid(format!("tensor {name} ({bytes} bytes at data offset {offset}) runs past the end of the file ({len} bytes): truncated?"))
            })?;
            let shape = ne.iter().rev().map(|&d| d as usize).collect();
            tensors.push(TensorInfo { name, shape, kind, start: (end - bytes) as usize, end: end as usize });
        }
        Ok(Self { version, metadata, tensors, file: file.to_string(), read })
    }

    fn invalid(&self, detail: String) -> PalateError {
        PalateError::InvalidWeights { file: self.file.clone(), detail }
    }

    /// A metadata value, or an error naming the missing key.
    pub fn get(&self, key: &str) -> Result<&Value> {
        self.metadata.get(key).ok_or_else(|| self.invalid(format!("metadata key {key} is missing")))
    }

    pub fn get_u64(&self, key: &str) -> Result<u64> {
        let v = self.get(key)?;
        v.as_u64().ok_or_else(|| self.invalid(format!("metadata {key} is {v:?}, not a non-negative integer")))
    }

    pub fn get_usize(&self, key: &str) -> Result<usize> {
        let v = self.get_u64(key)?;
        usize::try_from(v).map_err(|_| self.invalid(format!("metadata {key} = {v} is too large")))
    }

    pub fn get_f64(&self, key: &str) -> Result<f64> {
        let v = self.get(key)?;
        v.as_f64().ok_or_else(|| self.invalid(format!("metadata {key} is {v:?}, not a number")))
    }

    pub fn get_str(&self, key: &str) -> Result<&str> {
        let v = self.get(key)?;
        v.as_str().ok_or_else(|| self.invalid(format!("metadata {key} is {v:?}, not a string")))
    }

    /// An array of strings (the vocabulary, the merges).
    pub fn get_strings(&self, key: &str) -> Result<Vec<&str>> {
        match self.get(key)? {
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().ok_or_else(|| self.invalid(format!("metadata {key} holds {v:?}, not a string"))))
                .collect(),
            other => Err(self.invalid(format!("metadata {key} is {other:?}, not an array"))),
        }
    }

    /// An array of integers (token types).
    pub fn get_ints(&self, key: &str) -> Result<Vec<i64>> {
        match self.get(key)? {
            Value::Array(items) => items
                .iter()
                .map(|v| match *v {
                    Value::I32(x) => Ok(x.into()),
                    Value::I64(x) => Ok(x),
                    _ => v.as_u64().and_then(|x| i64::try_from(x).ok()).ok_or_else(|| self.invalid(format!("metadata {key} holds {v:?}, not an integer"))),
                })
                .collect(),
            other => Err(self.invalid(format!("metadata {key} is {other:?}, not an array"))),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name).ok_or_else(|| self.invalid(format!("tensor {name} is missing")))
    }

    /// The tensor's values as f32, row-major in [`TensorInfo::shape`]; read from the file now.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let info = self.tensor(name)?;
        let bytes = self.read.read(info.start, info.end).map_err(|e| self.invalid(format!("reading tensor {name}: {e}")))?;
        if bytes.len() != info.end - info.start {
            return Err(self.invalid(format!("reading tensor {name} returned {} of {} bytes", bytes.len(), info.end - info.start)));
        }
        Ok((info.shape.clone(), dequantize(info.kind, &bytes)))
    }
}

fn f16(b: &[u8]) -> f32 {
    half::f16::from_le_bytes([b[0], b[1]]).to_f32()
}

/// ggml's `dequantize_row_*`: `bytes` holds whole blocks of `kind` (checked by the caller).
pub fn dequantize(kind: TensorType, bytes: &[u8]) -> Vec<f32> {
    let (per_block, block_bytes) = kind.block();
    let mut out = Vec::with_capacity(bytes.len() / block_bytes * per_block);
    for b in bytes.chunks_exact(block_bytes) {
        match kind {
            TensorType::F32 => out.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            TensorType::F16 => out.push(f16(b)),
            TensorType::BF16 => out.push(half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
            TensorType::Q8_0 => {
                let d = f16(b);
                out.extend(b[2..34].iter().map(|&q| q as i8 as f32 * d));
            }
            TensorType::Q4_0 => {
                // Low nibbles are values 0..16, high nibbles 16..32.
                let d = f16(b);
                let qs = &b[2..18];
                out.extend(qs.iter().map(|&q| ((q & 0x0F) as i32 - 8) as f32 * d));
                out.extend(qs.iter().map(|&q| ((q >> 4) as i32 - 8) as f32 * d));
            }
            TensorType::Q4_1 => {
                let (d, m) = (f16(b), f16(&b[2..4]));
                let qs = &b[4..20];
                out.extend(qs.iter().map(|&q| (q & 0x0F) as f32 * d + m));
                out.extend(qs.iter().map(|&q| (q >> 4) as f32 * d + m));
            }
            TensorType::Q4K => dequantize_q4_k(b, &mut out),
            TensorType::Q6K => dequantize_q6_k(b, &mut out),
        }
    }
    out
}

/// Q4_K's 6-bit scale and minimum of sub-block `j` (ggml's `get_scale_min_k4`).
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// One Q4_K super-block (`d`, `dmin`, 12 bytes of packed scales, 128 bytes of nibbles) → 256 values:
/// eight sub-blocks of 32, each `d·scale·q − dmin·min`.
fn dequantize_q4_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (f16(b), f16(&b[2..4]));
    let (scales, qs) = (&b[4..16], &b[16..144]);
    for (chunk, q) in qs.chunks_exact(32).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
        out.extend(q.iter().map(|&v| d1 * (v & 0x0F) as f32 - m1));
        out.extend(q.iter().map(|&v| d2 * (v >> 4) as f32 - m2));
    }
}

/// One Q6_K super-block (128 bytes of low nibbles, 64 of high bit pairs, 16 i8 scales, `d`) → 256
/// values, each `d·scale·(q − 32)` with q six bits.
fn dequantize_q6_k(b: &[u8], out: &mut Vec<f32>) {
    let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f16(&b[208..210]);
    let start = out.len();
    out.resize(start + 256, 0.0);
    let y = &mut out[start..];
    for half in 0..2 {
        let (ql, qh, sc, y) = (&ql[64 * half..], &qh[32 * half..], &sc[8 * half..], &mut y[128 * half..]);
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            let s = |k: usize| d * sc[is + k] as i8 as f32;
            y[l] = s(0) * q1 as f32;
            y[l + 32] = s(2) * q2 as f32;
            y[l + 64] = s(4) * q3 as f32;
            y[l + 96] = s(6) * q4 as f32;
        }
    }
}
