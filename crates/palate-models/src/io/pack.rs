//! One-file models: a Burnpack (`.bpk`) file with the weights — f32, f16 or quantized — and, in
//! its metadata, the small files the model needs (config.json, tokenizer.json, the chat template,
//! pooling, the taste file). `palate convert` writes one; natively and in the browser it loads
//! exactly like the folder it came from.
//!
//! Metadata keys (all values are strings):
//!
//! | key | value |
//! |---|---|
//! | `palate.format` | `1` |
//! | `palate.kind` | `sentence-embedder` or `reward-model` |
//! | `palate.precision` | `f32`, `f16`, `q8` or `q4` (see [`StoredPrecision`]) |
//! | `palate.fingerprint` | the source folder's [`ModelFiles::fingerprint`] (encoders; profiles and taste files stay valid) |
//! | `file:NAME` | the text of the folder's file NAME (`config.json`, `1_Pooling/config.json`, …) |
//!
//! Tensors carry burn's module paths (`encoder.layer.0.attention.self_.query.weight`,
//! `model.layers.3.mlp.up_proj.weight`). Quantized weights are stored packed, as burn holds them
//! in memory (block 32, f32 scales), and load straight into quantized tensors.

use std::collections::BTreeMap;
use std::str::FromStr;

use burn::module::Module;
use burn::store::burn_pack::{self, Reader};
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ApplyResult, BurnpackStore, FloatCastAdapter, ModuleAdapter, ModuleContext, ModuleSnapshot, PathFilter, bridge};
use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, QuantizedBytes, ScaleDtype};
use burn::tensor::{AllocationProperty, Bytes, DType, TensorData};

use crate::error::{PalateError, Result};
use crate::io::files::{ModelFiles, names};
use crate::nn::quantize::Precision;
pub use crate::io::ranges::ByteRanges;
#[cfg(not(target_family = "wasm"))]
use crate::io::ranges::FileRanges;

/// File extension of a packed model.
pub const EXTENSION: &str = "bpk";
const FORMAT: &str = "1";
const FORMAT_KEY: &str = "palate.format";
const KIND_KEY: &str = "palate.kind";
const PRECISION_KEY: &str = "palate.precision";
const FINGERPRINT_KEY: &str = "palate.fingerprint";
const FILE_PREFIX: &str = "file:";

/// What a pack holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackKind {
    /// A sentence-transformers encoder ([`crate::SentenceEmbedder`]).
    SentenceEmbedder,
    /// A decoder reward model ([`crate::pipelines::reward::RewardModel`]).
    RewardModel,
}

impl PackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SentenceEmbedder => "sentence-embedder",
            Self::RewardModel => "reward-model",
        }
    }
}

/// How the weights are stored in a pack. Computation is always f32 (quantized weights are
/// dequantized per call, [`crate::nn::Linear::forward`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StoredPrecision {
    /// Every tensor as loaded, f32.
    #[default]
    F32,
    /// Every float tensor as f16 (half the bytes; cast back to f32 on load).
    F16,
    /// Linear weights of the transformer blocks q8 ([`Precision::Q8`]); the rest f16.
    Q8,
    /// Linear weights q4 ([`Precision::Q4`]); the rest f16.
    Q4,
}

impl StoredPrecision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q8 => "q8",
            Self::Q4 => "q4",
        }
    }

    /// The quantization applied to the linear weights before saving.
    pub fn quantization(self) -> Precision {
        match self {
            Self::F32 | Self::F16 => Precision::F32,
            Self::Q8 => Precision::Q8,
            Self::Q4 => Precision::Q4,
        }
    }

    /// The dtype of the float (not quantized) tensors in the file.
    fn float_dtype(self) -> DType {
        if self == Self::F32 { DType::F32 } else { DType::F16 }
    }
}

impl FromStr for StoredPrecision {
    type Err = PalateError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" | "fp32" => Ok(Self::F32),
            "f16" | "fp16" => Ok(Self::F16),
            "q8" | "int8" => Ok(Self::Q8),
            "q4" | "int4" => Ok(Self::Q4),
            other => Err(PalateError::InvalidInput(format!(
                "unknown precision \"{other}\" (expected \"f32\", \"f16\", \"q8\" or \"q4\")"
            ))),
        }
    }
}

/// A parsed `.bpk`: its description and files; the tensors are read when a model loads it.
pub struct Pack {
    pub kind: PackKind,
    pub precision: StoredPrecision,
    /// The source folder's fingerprint, where one was recorded.
    pub fingerprint: Option<String>,
    files: BTreeMap<String, Vec<u8>>,
    source: Source,
}

/// Where a pack's bytes are: in memory (tests, small files), or behind [`ByteRanges`] — a file
/// natively ([`FileRanges`]), a `Blob` in the browser — whose tensors are read one at a time as
/// the model takes them, so the whole file is never held in memory.
enum Source {
    Memory(bytes::Bytes),
    Ranges(Ranged),
}

/// A [`ByteRanges`] source and its parsed table of contents.
struct Ranged {
    read: std::sync::Arc<dyn ByteRanges>,
    tensors: BTreeMap<String, Descriptor>,
    /// Where the tensor data section starts.
    data_offset: usize,
}

/// The CBOR metadata of a Burnpack file (burn-pack's own reader keeps its types private; this
/// mirrors the fields Palate needs: see `burn_pack::base::Metadata`).
#[derive(serde::Deserialize)]
struct Contents {
    tensors: BTreeMap<String, Descriptor>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Clone, serde::Deserialize)]
struct Descriptor {
    dtype: DType,
    shape: Vec<u64>,
    /// Offsets within the data section.
    data_offsets: (u64, u64),
    #[serde(default)]
    param_id: Option<u64>,
}

impl Ranged {
    /// Reads the header and metadata of a pack behind `read` and checks every tensor's range.
    fn open(read: std::sync::Arc<dyn ByteRanges>) -> std::result::Result<(Self, BTreeMap<String, String>), String> {
        let len = read.len();
        let header = burn_pack::Header::from_bytes(&read.read(0, burn_pack::HEADER_SIZE.min(len))?).map_err(|e| e.to_string())?;
        if header.metadata_size > burn_pack::MAX_METADATA_SIZE {
            return Err(format!("its metadata claims {} bytes", header.metadata_size));
        }
        let meta_end = burn_pack::HEADER_SIZE + header.metadata_size as usize;
        if meta_end > len {
            return Err(format!("it is truncated ({len} bytes, its metadata ends at byte {meta_end})"));
        }
        let raw = read.read(burn_pack::HEADER_SIZE, meta_end)?;
        let contents: Contents = ciborium::de::from_reader_with_recursion_limit(raw.as_slice(), burn_pack::MAX_CBOR_RECURSION_DEPTH)
            .map_err(|e| format!("its metadata is not valid CBOR: {e}"))?;
        if contents.tensors.len() > burn_pack::MAX_TENSOR_COUNT {
            return Err(format!("it lists {} tensors", contents.tensors.len()));
        }
        let data_offset = burn_pack::aligned_data_section_start(header.metadata_size as usize);
        for (name, d) in &contents.tensors {
            let (start, end) = (data_offset as u64 + d.data_offsets.0, data_offset as u64 + d.data_offsets.1);
            if start > end || end > len as u64 {
                return Err(format!("tensor {name} lies at bytes {start}..{end} of a {len}-byte file (truncated?)"));
            }
            // Shapes come from the file: they must fit this platform and agree with the byte range
            // (for quantized data: values and scales as burn lays them out).
            let elements = d.shape.iter().try_fold(1u64, |acc, &x| usize::try_from(x).ok().and(acc.checked_mul(x)));
            let Some(elements) = elements.filter(|&n| usize::try_from(n).is_ok()) else {
                return Err(format!("tensor {name} has an impossible shape {:?}", d.shape));
            };
            match d.dtype {
                DType::QFloat(scheme) => check_quantized(name, scheme, &d.shape, end - start)?,
                dtype if elements.checked_mul(dtype.size() as u64) != Some(end - start) => {
                    return Err(format!("tensor {name}: shape {:?} of {:?} does not fill its {} bytes", d.shape, d.dtype, end - start));
                }
                _ => {}
            }
        }
        Ok((Self { read, tensors: contents.tensors, data_offset }, contents.metadata))
    }

    /// `(start, end)` of a tensor in the file.
    fn range(&self, d: &Descriptor) -> (usize, usize) {
        (self.data_offset + d.data_offsets.0 as usize, self.data_offset + d.data_offsets.1 as usize)
    }

    /// Every tensor, its bytes read when the model takes it.
    fn tensors(&self) -> Vec<PackTensor> {
        self.tensors
            .iter()
            .map(|(name, d)| {
                let (start, end) = self.range(d);
                let read = std::sync::Arc::clone(&self.read);
                let shape: Vec<usize> = d.shape.iter().map(|&x| x as usize).collect();
                PackTensor::deferred(name.clone(), d.dtype, shape, d.param_id, end - start, move || {
                    read.read(start, end).map(Bytes::from_bytes_vec).map_err(burn_pack::Error::IoError)
                })
            })
            .collect()
    }
}

impl Source {
    fn len(&self) -> usize {
        match self {
            Self::Memory(bytes) => bytes.len(),
            Self::Ranges(r) => r.read.len(),
        }
    }

    /// The pack's tensors as burn-pack's lazy tensors.
    fn tensors(&self) -> std::result::Result<Vec<PackTensor>, burn_pack::Error> {
        match self {
            Self::Memory(bytes) => Reader::from_bytes(Bytes::from_shared(bytes.clone(), AllocationProperty::Other))?.into_tensors(),
            Self::Ranges(r) => Ok(r.tensors()),
        }
    }

    /// The user metadata (`palate.*`, `file:*`).
    fn metadata(&self) -> std::result::Result<BTreeMap<String, String>, burn_pack::Error> {
        match self {
            Self::Memory(bytes) => Ok(Reader::from_bytes(Bytes::from_shared(bytes.clone(), AllocationProperty::Other))?.metadata().clone()),
            Self::Ranges(_) => Ok(BTreeMap::new()), // read once, in `Pack::from_ranges`
        }
    }
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pack")
            .field("kind", &self.kind)
            .field("precision", &self.precision)
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field("bytes", &self.source.len())
            .finish()
    }
}

fn not_burnpack(file: &str) -> PalateError {
    PalateError::InvalidWeights {
        file: file.to_string(),
        detail: "not a Burnpack (.bpk) file: it does not start with burn's magic number".into(),
    }
}

/// Whether `bytes` start like a Burnpack file (its magic number), as opposed to safetensors.
/// A pack held in memory, as [`ByteRanges`] for [`Ranged::open`]'s checks (reads copy only the
/// header and metadata they ask for).
struct SharedBytes(bytes::Bytes);

impl ByteRanges for SharedBytes {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn read(&self, start: usize, end: usize) -> std::result::Result<Vec<u8>, String> {
        self.0.get(start..end).map(<[u8]>::to_vec).ok_or_else(|| format!("bytes {start}..{end} are outside a {}-byte file", self.0.len()))
    }
}

pub fn is_burnpack(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == burn_pack::MAGIC_NUMBER
}

impl Pack {
    /// Parses the header and metadata of a pack held in memory (`file` names it in errors). The
    /// tensor data is not copied: the pack shares `bytes` with the model that loads it.
    pub fn parse(bytes: Vec<u8>, file: &str) -> Result<Self> {
        if !is_burnpack(&bytes) {
            return Err(not_burnpack(file));
        }
        let bytes = bytes::Bytes::from(bytes);
        // The same checks as a pack read by ranges (every tensor's range, shape and quantized
        // layout) before burn-pack's reader, which trusts them, sees the bytes.
        Ranged::open(std::sync::Arc::new(SharedBytes(bytes.clone())))
            .map_err(|e| PalateError::InvalidWeights { file: file.to_string(), detail: format!("a damaged .bpk file: {e}") })?;
        Self::from_source(Source::Memory(bytes), file)
    }

    /// Opens a pack on disk: the header and metadata are read now, each tensor when a model loads
    /// it, so loading never holds the whole file in memory.
    #[cfg(not(target_family = "wasm"))]
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = path.display().to_string();
        Self::from_ranges(std::sync::Arc::new(FileRanges::open(path)?), &file)
    }

    /// Opens a pack behind [`ByteRanges`] (the browser's `Blob`): the header and metadata are
    /// read now, each tensor when a model loads it.
    pub fn from_ranges(read: std::sync::Arc<dyn ByteRanges>, file: &str) -> Result<Self> {
        let invalid = |detail: String| PalateError::InvalidWeights { file: file.to_string(), detail };
        let magic = read.read(0, 4.min(read.len())).map_err(|e| invalid(e.clone()))?;
        if !is_burnpack(&magic) {
            return Err(not_burnpack(file));
        }
        let (ranged, meta) = Ranged::open(read).map_err(|e| invalid(format!("a damaged .bpk file: {e}")))?;
        Self::with_metadata(Source::Ranges(ranged), &meta, file)
    }

    fn from_source(source: Source, file: &str) -> Result<Self> {
        let invalid = |detail: String| PalateError::InvalidWeights { file: file.to_string(), detail };
        let meta = source.metadata().map_err(|e| invalid(format!("a damaged .bpk file: {e}")))?;
        Self::with_metadata(source, &meta, file)
    }

    fn with_metadata(source: Source, meta: &BTreeMap<String, String>, file: &str) -> Result<Self> {
        let invalid = |detail: String| PalateError::InvalidWeights { file: file.to_string(), detail };
        let get = |key: &str| meta.get(key).ok_or_else(|| invalid(format!("no \"{key}\" in its metadata — was it written by `palate convert`?")));
        if get(FORMAT_KEY)? != FORMAT {
            return Err(invalid(format!("pack format {} is not {FORMAT}, the one this version reads", get(FORMAT_KEY)?)));
        }
        let kind = match get(KIND_KEY)?.as_str() {
            "sentence-embedder" => PackKind::SentenceEmbedder,
            "reward-model" => PackKind::RewardModel,
            other => return Err(invalid(format!("unknown model kind \"{other}\""))),
        };
        let precision = get(PRECISION_KEY)?.parse().map_err(|e: PalateError| invalid(e.to_string()))?;
        let files = meta
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(FILE_PREFIX).map(|name| (name.to_string(), v.clone().into_bytes())))
            .collect();
        let fingerprint = meta.get(FINGERPRINT_KEY).cloned();
        Ok(Self { kind, precision, fingerprint, files, source })
    }

    /// Size of the whole file in bytes.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    pub fn is_empty(&self) -> bool {
        self.source.len() == 0
    }

    /// The text of a file carried in the pack, if present.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    /// A carried file that must be there.
    pub(crate) fn required(&self, name: &str) -> Result<Vec<u8>> {
        self.file(name).map(<[u8]>::to_vec).ok_or_else(|| PalateError::MissingFile {
            file: format!("{name} (inside the .bpk)"),
            detail: "the pack does not carry it; re-run `palate convert` on the model folder".into(),
        })
    }

    /// The carried files of a sentence-embedder pack as a [`ModelFiles`] (its `weights` empty:
    /// the tensors stay in the pack).
    pub fn model_files(&self) -> Result<ModelFiles> {
        Ok(ModelFiles {
            config: self.required(names::CONFIG)?,
            tokenizer: self.required(names::TOKENIZER)?,
            weights: Vec::new(),
            sentence_bert_config: self.file(names::SENTENCE_BERT_CONFIG).map(<[u8]>::to_vec),
            modules: self.file(names::MODULES).map(<[u8]>::to_vec),
            pooling_config: self.file(names::POOLING_CONFIG).map(<[u8]>::to_vec),
        })
    }

    /// Refuses a pack of another kind than the caller loads.
    pub(crate) fn expect_kind(&self, kind: PackKind) -> Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(PalateError::InvalidInput(format!(
                "this .bpk holds a {}, not a {}",
                self.kind.as_str(),
                kind.as_str()
            )))
        }
    }

    /// Loads the pack's tensors into `module` (built from the carried config): f16 tensors are
    /// cast to f32, quantized ones stay quantized. Shape disagreements and missing tensors are
    /// errors naming them.
    /// `keep_f16` names tensors (module paths) to leave in the file's float dtype: the decoder's
    /// CPU-side token-embedding table, which is only looked up, never multiplied.
    /// `skip`: tensors (module paths) to leave unloaded — the caller reads them with
    /// [`Self::raw_tensor`] (a decoder's q8 token table, its q4 linear weights on the CPU).
    pub(crate) fn load_into<M: Module>(&self, module: &mut M, keep_f16: &[&str], skip: &[String]) -> Result<()> {
        let invalid = |detail: String| PalateError::InvalidWeights { file: format!("{} .bpk", self.kind.as_str()), detail };
        let keep = keep_f16.iter().map(|s| s.to_string()).collect();
        let tensors = self.source.tensors().map_err(|e| invalid(format!("a damaged .bpk file: {e}")))?;
        // Everything the file holds but the skipped tensors; a parameter the file lacks is still
        // reported missing (the store never finds it, whatever the filter says).
        let filter = (!skip.is_empty()).then(|| {
            PathFilter::new().with_full_paths(tensors.iter().map(|t| t.name.clone()).filter(|name| !skip.contains(name)))
        });
        // Tensors are read (file, Blob) and made one at a time as the module takes them.
        let result: ApplyResult = module.apply(tensors, filter, Some(Box::new(CastToF32Except { keep })), false);
        if let Some(error) = result.errors.first() {
            return Err(invalid(format!("{error} — the carried config.json does not describe these tensors")));
        }
        let missing: Vec<&str> = result.missing.iter().map(|(path, _)| path.as_str()).filter(|path| !skip.iter().any(|s| s == path)).collect();
        if !missing.is_empty() {
            let missing: Vec<&str> = missing.into_iter().take(5).collect();
            return Err(invalid(format!("tensors are missing, e.g. {}", missing.join(", "))));
        }
        Ok(())
    }
}

/// A tensor as stored: dtype, shape and bytes.
pub(crate) type RawTensor = (DType, Vec<usize>, Vec<u8>);

/// Module path of a decoder's token table.
pub(crate) const TOKEN_TABLE_PATH: &str = "model.embed_tokens.weight";

impl Pack {
    /// One tensor's dtype, shape and stored bytes (a copy of that range only), if the pack has it.
    pub(crate) fn raw_tensor(&self, name: &str) -> Result<Option<RawTensor>> {
        let mut found = None;
        self.raw_tensors_where(|n| n == name, |_, raw| {
            found = Some(raw);
            Ok(())
        })?;
        Ok(found)
    }

    /// Where a tensor lies in a pack read by byte ranges (a file, a `Blob`): the reader, its dtype
    /// and shape, and its byte range. `None` for an in-memory pack or an unknown name.
    #[allow(clippy::type_complexity)]
    pub(crate) fn stored_range(&self, name: &str) -> Option<(std::sync::Arc<dyn ByteRanges>, DType, Vec<usize>, usize, usize)> {
        let Source::Ranges(r) = &self.source else { return None };
        let d = r.tensors.get(name)?;
        let (start, end) = r.range(d);
        Some((std::sync::Arc::clone(&r.read), d.dtype, d.shape.iter().map(|&x| x as usize).collect(), start, end))
    }

    /// [`Self::raw_tensor`] for every tensor whose name `wanted` accepts, in one pass over the
    /// table of contents: each is read and handed to `take` before the next is read.
    pub(crate) fn raw_tensors_where(&self, wanted: impl Fn(&str) -> bool, mut take: impl FnMut(&str, RawTensor) -> Result<()>) -> Result<()> {
        let invalid = |e: burn_pack::Error| PalateError::InvalidWeights { file: format!("{} .bpk", self.kind.as_str()), detail: e.to_string() };
        for tensor in self.source.tensors().map_err(invalid)? {
            if !wanted(&tensor.name) {
                continue;
            }
            let (name, dtype, shape) = (tensor.name.clone(), tensor.dtype, tensor.shape.to_vec());
            let bytes = tensor.into_bytes().map_err(invalid)?;
            take(&name, (dtype, shape, bytes.to_vec()))?;
        }
        Ok(())
    }
}

/// Writes `module` (already quantized as `precision` says) and `files` into one `.bpk` file's
/// bytes; float tensors are stored as `precision`'s float dtype. Files must be UTF-8 text.
pub fn write<M: Module>(
    module: &M,
    kind: PackKind,
    precision: StoredPrecision,
    fingerprint: Option<&str>,
    files: &[(&str, &[u8])],
) -> Result<Vec<u8>> {
    let mut store = BurnpackStore::from_bytes(None)
        .metadata(FORMAT_KEY, FORMAT)
        .metadata(KIND_KEY, kind.as_str())
        .metadata(PRECISION_KEY, precision.as_str())
        .with_to_adapter(FloatCastAdapter::to(precision.float_dtype()).chain(PackedQuantAdapter));
    if let Some(fingerprint) = fingerprint {
        store = store.metadata(FINGERPRINT_KEY, fingerprint);
    }
    for (name, bytes) in files {
        let text = std::str::from_utf8(bytes).map_err(|_| PalateError::InvalidInput(format!("{name} is not UTF-8 text")))?;
        store = store.metadata(format!("{FILE_PREFIX}{name}"), text);
    }
    module.save_into(&mut store).map_err(|e| PalateError::Backend(format!("writing the .bpk: {e}")))?;
    let bytes = store.get_bytes().map_err(|e| PalateError::Backend(format!("writing the .bpk: {e}")))?;
    Ok(bytes.to_vec())
}

/// A quantized tensor's scheme is one Palate writes (q8 or q4 in blocks of 32 with f32 scales,
/// packed in u32 words: [`PackedQuantAdapter`]) and its byte length is exactly what burn's layout
/// needs for its shape. burn's unpacking trusts both and panics otherwise (found by `fuzz/bpk`).
fn check_quantized(name: &str, scheme: QuantScheme, shape: &[u64], bytes: u64) -> std::result::Result<(), String> {
    let ours = [Precision::Q8, Precision::Q4].into_iter().filter_map(Precision::scheme).any(|s| scheme == s.with_store(QuantStore::PackedU32(0)));
    if !ours {
        return Err(format!("tensor {name} is quantized as {scheme:?}, not a scheme Palate writes (q8 / q4, blocks of 32, f32 scales)"));
    }
    if shape.is_empty() || shape.contains(&0) {
        return Err(format!("tensor {name}: a quantized tensor of shape {shape:?}"));
    }
    let dims: Vec<usize> = shape.iter().map(|&x| x as usize).collect();
    let want = burn::tensor::quantization::quantized_data_len(&scheme, &burn::tensor::Shape::from(dims));
    if want as u64 != bytes {
        return Err(format!("tensor {name}: shape {shape:?} quantized as {:?} needs {want} bytes; the file gives {bytes}", scheme.value));
    }
    Ok(())
}

/// Stores quantized tensors in burn's portable layout, values packed into u32 words
/// (`QuantStore::PackedU32`): what the GPU backend holds in memory, and what the CPU backend
/// unpacks on load. burn's CPU backend keeps one value per byte (`QuantStore::Native`), which the
/// GPU backend refuses to load ("Q8S is not supported for native quantization", "Can't store
/// native sub-byte values") and which doubles a q4 file.
#[derive(Clone)]
struct PackedQuantAdapter;

impl ModuleAdapter for PackedQuantAdapter {
    fn adapt(&self, tensor: PackTensor, _ctx: ModuleContext<'_>) -> PackTensor {
        let DType::QFloat(scheme) = tensor.dtype else { return tensor };
        if scheme.store != QuantStore::Native || !matches!(scheme.value, QuantValue::Q8S | QuantValue::Q4S) {
            return tensor;
        }
        let packed = scheme.with_store(QuantStore::PackedU32(0));
        let (name, shape) = (tensor.name.clone(), tensor.shape.clone());
        bridge::map_data(tensor, name, DType::QFloat(packed), shape.clone(), move |data| {
            let (values, scales) = QuantizedBytes { bytes: data.into_bytes(), scheme, shape: shape.clone() }.into_vec_i8();
            debug_assert_eq!(scheme.scale_dtype(), ScaleDtype::F32);
            let bits = if scheme.value == QuantValue::Q4S { 4 } else { 8 };
            let per_word = 32 / bits;
            let mask = (1u32 << bits) - 1;
            let mut bytes = Vec::with_capacity(values.len().div_ceil(per_word) * 4 + scales.block.len() * 4);
            for word in values.chunks(per_word) {
                let w = word.iter().enumerate().fold(0u32, |acc, (j, &v)| acc | ((v as u32) & mask) << (j * bits));
                bytes.extend_from_slice(&w.to_le_bytes());
            }
            for scale in &scales.block {
                bytes.extend_from_slice(&scale.to_le_bytes());
            }
            TensorData::from_bytes_vec(bytes, shape.clone(), DType::QFloat(packed))
        })
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// burn's `FloatCastAdapter::to(F32)` for every tensor but the ones named in `keep`.
#[derive(Clone)]
struct CastToF32Except {
    keep: Vec<String>,
}

impl ModuleAdapter for CastToF32Except {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        if self.keep.contains(&tensor.name) { tensor } else { FloatCastAdapter::to(DType::F32).adapt(tensor, ctx) }
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}
