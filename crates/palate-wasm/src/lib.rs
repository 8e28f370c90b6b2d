//! wasm-bindgen glue: exposes [`palate_models`] and [`palate_personal`] to JavaScript. It converts bytes and results
//! between JS and Rust and nothing else; every decision lives in `palate-models`, shared with the
//! native CLI. Used from `web/src/worker.js`, never from the page's main thread.

// A panic is a dead worker in the browser: library code returns errors. The few `expect`s left
// hold invariants input cannot reach, each with an `allow` that says why.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::rc::Rc;

use js_sys::{Array, Float32Array, Object, Promise, Reflect, Uint32Array};
use palate_models::models::decoder::DecoderWeights;
use palate_models::io::gguf::Gguf;
use palate_models::io::ranges::ByteRanges;
use palate_models::pipelines::causal::CausalLm;
use palate_models::pipelines::reward::{RewardFiles, RewardModel, Rewarder};
use palate_models::{BackendKind, ModelFiles, Pack, PalateError, Precision, SentenceEmbedder, device};
use palate::{Ranker, SentenceEncoder};
use palate_personal::features::{FeatureSpec, Principle};
use palate_personal::PersonalError;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

// Static constructors (`.init_array`; the `inventory` registrations of cubecl's compiler IR,
// pliron) run once, here. When a module never calls `__wasm_call_ctors` itself, wasm-ld wraps
// *every* export in a call to it (its "command" heuristic, lld/wasm/Writer.cpp), so each crossing
// from JS into wasm re-ran all of them: about 0.6 ms a crossing, hundreds per WebGPU call (every
// callback and externref slot is a crossing). Calling it explicitly turns the wrappers off. See
// dtolnay/inventory#76 and #78.
#[cfg(not(any(feature = "webgpu", feature = "cpu")))]
compile_error!("palate-wasm needs a backend: feature \"webgpu\" (the default) or \"cpu\"");

#[cfg(target_family = "wasm")]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

#[wasm_bindgen(start)]
fn start() {
    // SAFETY: wasm-bindgen calls the start function once, right after instantiation and before
    // any other export; nothing has read the registries yet.
    #[cfg(target_family = "wasm")]
    unsafe {
        __wasm_call_ctors();
    }
    console_error_panic_hook::set_once();
}

/// The threaded CPU build's worker pool: `await initThreadPool(n)` once, before the first call
/// (web/src/worker.js does it with `navigator.hardwareConcurrency`).
#[cfg(all(feature = "threads", target_arch = "wasm32"))]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Threads the CPU products run on (1 outside the threaded build).
#[wasm_bindgen]
pub fn threads() -> usize {
    palate_models::kernels::pool::threads()
}

/// Panics, which the wasm turns into a trap: the browser tests use it to check that the page side
/// replaces a trapped worker (`web/src/palate.js`) and the stored profile survives. Nothing else
/// calls it; it is exported because a test cannot reach a real bug on purpose.
#[wasm_bindgen(js_name = trapForTests)]
pub fn trap_for_tests() {
    panic!("trap forced by a test (trapForTests)");
}

/// An `Error` with the message and, where the kind says it, the `code` of web/src/palate.js's
/// `ERROR_CODES` (the worker falls back to a code by request otherwise).
fn coded(message: String, code: Option<&str>) -> JsValue {
    let error: JsValue = JsError::new(&message).into();
    if let Some(code) = code {
        let _ = Reflect::set(&error, &"code".into(), &code.into());
    }
    error
}

fn js_error(e: PalateError) -> JsValue {
    let code = match &e {
        PalateError::MissingFile { .. } | PalateError::Io { .. } => Some("model-missing"),
        PalateError::InvalidJson { .. } | PalateError::InvalidConfig { .. } | PalateError::InvalidWeights { .. } | PalateError::InvalidTokenizer { .. } => Some("model-invalid"),
        PalateError::Tokenize(_) | PalateError::InvalidInput(_) => Some("input-invalid"),
        PalateError::Backend(_) => None,
    };
    coded(e.to_string(), code)
}

fn taste_error(e: PersonalError) -> JsValue {
    let code = match &e {
        PersonalError::Profile(_) => Some("profile-corrupt"),
        PersonalError::InvalidInput(_) | PersonalError::TooFewCandidates { .. } | PersonalError::NoQuestionLeft => Some("input-invalid"),
        PersonalError::InvalidSpec(_) | PersonalError::InvalidPrior(_) | PersonalError::NonFinite { .. } => Some("model-invalid"),
        _ => None,
    };
    coded(e.to_string(), code)
}

fn ranker_error(e: palate::Error) -> JsValue {
    match e {
        palate::Error::Model(e) => js_error(e),
        palate::Error::Taste(e) => taste_error(e),
        palate::Error::WrongModel => coded(e.to_string(), None),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, JsValue> {
    serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()).into())
}

/// `maxBindingBytes` as JS passes it: absent, or not a positive finite number, means no limit.
fn binding_limit(max_binding_bytes: Option<f64>) -> Option<u64> {
    max_binding_bytes.filter(|l| l.is_finite() && *l > 0.0).map(|l| l as u64)
}

/// `precision` as JS passes it (absent = f32).
fn parse_precision(precision: Option<String>) -> Result<Precision, JsValue> {
    precision.as_deref().unwrap_or("f32").parse().map_err(js_error)
}

#[wasm_bindgen]
extern "C" {
    /// The DOM's `Blob` (only what a pack needs).
    type Blob;
    #[wasm_bindgen(method, getter)]
    fn size(this: &Blob) -> f64;
    #[wasm_bindgen(method)]
    fn slice(this: &Blob, start: f64, end: f64) -> Blob;

    /// Synchronous reads of a `Blob`, offered in workers only (where Palate runs).
    type FileReaderSync;
    #[wasm_bindgen(constructor, catch)]
    fn new() -> Result<FileReaderSync, JsValue>;
    #[wasm_bindgen(method, catch, js_name = readAsArrayBuffer)]
    fn read_as_array_buffer(this: &FileReaderSync, blob: &Blob) -> Result<js_sys::ArrayBuffer, JsValue>;
}

/// A `.bpk` held in a `Blob` (downloaded, or straight from the Cache API, which keeps it on disk),
/// read a tensor at a time: the file is never copied whole into wasm memory.
struct BlobRanges {
    blob: Blob,
    reader: FileReaderSync,
    len: usize,
}

// SAFETY: wasm32-unknown-unknown as built here has no threads: nothing can reach these JS handles
// from another thread. burn-pack asks for Send + Sync because its lazy tensors may cross threads
// natively.
unsafe impl Send for BlobRanges {}
unsafe impl Sync for BlobRanges {}

impl ByteRanges for BlobRanges {
    fn len(&self) -> usize {
        self.len
    }
    fn read(&self, start: usize, end: usize) -> Result<Vec<u8>, String> {
        let part = self.blob.slice(start as f64, end as f64);
        let buffer = self.reader.read_as_array_buffer(&part).map_err(|e| format!("reading bytes {start}..{end} of the file failed: {e:?}"))?;
        Ok(js_sys::Uint8Array::new(&buffer).to_vec())
    }
}

/// A `.bpk` as JS passes it: a `Uint8Array` (parsed in memory) or a `Blob` (read by ranges).
fn open_pack(data: JsValue, file: &str) -> Result<Pack, JsValue> {
    if let Some(bytes) = data.dyn_ref::<js_sys::Uint8Array>() {
        return Pack::parse(bytes.to_vec(), file).map_err(js_error);
    }
    Pack::from_ranges(blob_ranges(data, file)?, file).map_err(js_error)
}

/// A model file as JS passes it, behind [`ByteRanges`]: a `Uint8Array` in memory, or a `Blob`
/// read by ranges with `FileReaderSync` (workers only).
fn file_ranges(data: JsValue, file: &str) -> Result<std::sync::Arc<dyn ByteRanges>, JsValue> {
    if let Some(bytes) = data.dyn_ref::<js_sys::Uint8Array>() {
        return Ok(std::sync::Arc::new(palate_models::io::ranges::MemoryRanges(bytes.to_vec())));
    }
    blob_ranges(data, file)
}

fn blob_ranges(data: JsValue, file: &str) -> Result<std::sync::Arc<dyn ByteRanges>, JsValue> {
    let is_blob = Reflect::get(&data, &"slice".into()).is_ok_and(|f| f.is_function())
        && Reflect::get(&data, &"size".into()).is_ok_and(|n| n.as_f64().is_some());
    if !is_blob {
        return Err(JsError::new(&format!("{file}: expected the file as a Uint8Array or a Blob")).into());
    }
    let blob: Blob = data.unchecked_into();
    let reader = FileReaderSync::new()
        .map_err(|_| JsError::new(&format!("{file}: a Blob can only be read in a worker (FileReaderSync); pass a Uint8Array")))?;
    let len = blob.size() as usize;
    Ok(std::sync::Arc::new(BlobRanges { blob, reader, len }))
}

#[wasm_bindgen]
pub struct Embedder {
    inner: Rc<SentenceEmbedder>,
    backend: BackendKind,
    fingerprint: String,
    /// palate-taste.json carried by a `.bpk` ([`Embedder::from_pack`]).
    packed_taste: Option<String>,
}

#[wasm_bindgen]
impl Embedder {
    /// Builds the model from a Hugging Face folder's file bytes on `backend` ("webgpu" or "cpu").
    /// The caller (the worker) has already checked that WebGPU has an adapter: wgpu panics
    /// instead of erring when it has none.
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        backend: String,
        config: Vec<u8>,
        tokenizer: Vec<u8>,
        weights: Vec<u8>,
        sentence_bert_config: Option<Vec<u8>>,
        modules: Option<Vec<u8>>,
        pooling_config: Option<Vec<u8>>,
        precision: Option<String>,
    ) -> Result<Embedder, JsValue> {
        let backend: BackendKind = backend.parse().map_err(js_error)?;
        let precision = parse_precision(precision)?;
        let device = device::device(backend).await.map_err(js_error)?;
        let files = ModelFiles { config, tokenizer, weights, sentence_bert_config, modules, pooling_config };
        let fingerprint = files.fingerprint();
        let inner = SentenceEmbedder::load(files, &device).and_then(|e| e.quantize(precision)).map_err(js_error)?;
        Ok(Embedder { inner: Rc::new(inner), backend, fingerprint, packed_taste: None })
    }

    /// From a `.bpk` written by `palate convert` (config, tokenizer and taste file inside), as a
    /// `Uint8Array` or a `Blob`; a Blob is read a tensor at a time, never copied whole into wasm
    /// memory. `precision` may quantize an f32 / f16 pack further; a quantized pack refuses it.
    #[wasm_bindgen(js_name = fromPack)]
    pub async fn from_pack(backend: String, data: JsValue, precision: Option<String>) -> Result<Embedder, JsValue> {
        let backend: BackendKind = backend.parse().map_err(js_error)?;
        let precision = parse_precision(precision)?;
        let device = device::device(backend).await.map_err(js_error)?;
        let pack = open_pack(data, "model .bpk")?;
        let fingerprint = match &pack.fingerprint {
            Some(f) => f.clone(),
            None => return Err(JsError::new("model .bpk: it records no model fingerprint; re-run `palate convert`").into()),
        };
        let packed_taste = pack.file(palate_models::io::files::names::TASTE).map(|t| String::from_utf8_lossy(t).into_owned());
        let inner = SentenceEmbedder::from_pack(&pack, &device).and_then(|e| e.quantize(precision)).map_err(js_error)?;
        Ok(Embedder { inner: Rc::new(inner), backend, fingerprint, packed_taste })
    }

    /// The palate-taste.json a `.bpk` carried, if any.
    #[wasm_bindgen(getter, js_name = packedTaste)]
    pub fn packed_taste(&self) -> Option<String> {
        self.packed_taste.clone()
    }

    /// Resolves to a [`Taste`] for this model from its palate-taste.json (`spec_json`), refused
    /// when made for another model. `principles_json`, a list of `{name, label?, goal, baseline?}`,
    /// replaces the file's principle heads ([`palate::Ranker::new`]).
    #[wasm_bindgen(js_name = createTaste)]
    pub fn create_taste(&self, spec_json: String, principles_json: Option<String>) -> Promise {
        let encoder = Rc::new(SentenceEncoder(Rc::clone(&self.inner)));
        let fingerprint = self.fingerprint.clone();
        future_to_promise(async move {
            let spec =
                FeatureSpec::from_json(&spec_json).map_err(|e| JsError::new(&format!("palate-taste.json: {e}")))?;
            let principles = principles_json.map(|json| Principle::list_from_json(&json)).transpose().map_err(taste_error)?;
            let ranker = Ranker::new(encoder, &fingerprint, spec, principles).await.map_err(ranker_error)?;
            Ok(Taste { ranker }.into())
        })
    }

    /// sha256 of config.json and the weights: what taste files and profiles are bound to.
    #[wasm_bindgen(getter)]
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        match self.backend {
            BackendKind::Wgpu => "webgpu".into(),
            BackendKind::Cpu => "cpu".into(),
        }
    }

    /// Embedding width.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Resolves to `[{ ids: Uint32Array, embedding: Float32Array }]`, one per text, in order.
    pub fn embed(&self, texts: Vec<String>) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let results = inner.embed(&texts).await.map_err(js_error)?;
            let out = Array::new();
            for r in results {
                let row = Object::new();
                Reflect::set(&row, &"ids".into(), &Uint32Array::from(r.ids.as_slice()))?;
                Reflect::set(&row, &"embedding".into(), &Float32Array::from(r.embedding.as_slice()))?;
                out.push(&row);
            }
            Ok(out.into())
        })
    }
}

/// One user's taste over an [`Embedder`]: rerank, questions, answers, profile, all through
/// [`palate::Ranker`]. Results are JSON strings (parsed by the worker).
#[wasm_bindgen]
pub struct Taste {
    ranker: Ranker<SentenceEncoder>,
}

#[wasm_bindgen]
impl Taste {
    /// Makes the reward model's score a feature (prior weight 1); call before restoring a profile.
    #[wasm_bindgen(js_name = useReward)]
    pub fn use_reward(&mut self, reward: &Reward) -> Result<(), JsValue> {
        self.ranker.use_reward(Rc::clone(&reward.inner)).map_err(ranker_error)
    }

    /// Resolves to the JSON of `[{index, reward, uncertainty, explanation, contributions}]`, best first.
    pub fn rerank(&self, prompt: String, replies: Vec<String>, conservative: Option<f64>) -> Promise {
        let ranker = self.ranker.clone();
        future_to_promise(async move {
            let ranking = ranker.rerank(&[], &prompt, &replies, conservative).await.map_err(ranker_error)?;
            Ok(to_json(&ranking.replies)?.into())
        })
    }

    /// Resolves to the JSON of `{id, a, b, gain}`: the pair of replies to ask about next.
    #[wasm_bindgen(js_name = nextQuestion)]
    pub fn next_question(&self, prompt: String, replies: Vec<String>) -> Promise {
        let ranker = self.ranker.clone();
        future_to_promise(async move {
            let question = ranker.next_question(&[], &prompt, &replies).await.map_err(ranker_error)?;
            Ok(to_json(&question)?.into())
        })
    }

    /// Records an answer ("a", "b", "tie", "skip") to question `id`; returns the summary JSON.
    pub fn answer(&self, id: u32, answer: &str) -> Result<String, JsValue> {
        to_json(&self.ranker.answer(id, answer).map_err(ranker_error)?)
    }

    /// `{answers, weights: [{name, label, mean, sd}]}` as JSON.
    pub fn summary(&self) -> Result<String, JsValue> {
        to_json(&self.ranker.summary())
    }

    /// Fingerprint of the feature spec (principles, basis): profiles are stored per model and spec.
    #[wasm_bindgen(getter, js_name = featuresFingerprint)]
    pub fn features_fingerprint(&self) -> String {
        self.ranker.session().model().spec().fingerprint()
    }

    #[wasm_bindgen(js_name = exportProfile)]
    pub fn export_profile(&self) -> String {
        self.ranker.export_profile()
    }

    /// Replaces the taste with the profile; on error nothing changes.
    #[wasm_bindgen(js_name = importProfile)]
    pub fn import_profile(&self, json: &str) -> Result<String, JsValue> {
        to_json(&self.ranker.import_profile(json).map_err(ranker_error)?)
    }

    pub fn forget(&self) -> Result<String, JsValue> {
        to_json(&self.ranker.forget())
    }
}

/// What scores replies, on one device: a decoder reward model (Qwen3 / Llama sequence
/// classification), or a causal LM from a GGUF through follow-up likelihood.
#[wasm_bindgen]
pub struct Reward {
    inner: Rc<Rewarder>,
    embeddings_on_cpu: bool,
}

impl Reward {
    fn classifier(model: RewardModel) -> Self {
        let embeddings_on_cpu = model.scorer().embeddings_on_cpu();
        Reward { inner: Rc::new(Rewarder::Classifier(model)), embeddings_on_cpu }
    }
}

#[wasm_bindgen]
impl Reward {
    /// From a Hugging Face reward-model folder's bytes. `shard_names` / `shards`: the files of
    /// model.safetensors.index.json when `weights` is absent.
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        backend: String,
        config: Vec<u8>,
        tokenizer: Vec<u8>,
        tokenizer_config: Option<Vec<u8>>,
        chat_template: Option<Vec<u8>>,
        weights: Option<Vec<u8>>,
        shard_names: Vec<String>,
        shards: Vec<js_sys::Uint8Array>,
        max_binding_bytes: Option<f64>,
        precision: Option<String>,
    ) -> Result<Reward, JsValue> {
        let backend: BackendKind = backend.parse().map_err(js_error)?;
        let precision = parse_precision(precision)?;
        let device = device::device(backend).await.map_err(js_error)?;
        let weights = match weights {
            Some(w) => DecoderWeights::Single(w),
            None => DecoderWeights::Sharded(shard_names.into_iter().zip(shards.iter().map(|a| a.to_vec())).collect()),
        };
        let files = RewardFiles { config, tokenizer, tokenizer_config, chat_template, weights };
        let limit = binding_limit(max_binding_bytes);
        let model = RewardModel::load_with_binding_limit(files, &device, limit)
            .and_then(|m| m.quantize(precision))
            .map_err(js_error)?;
        Ok(Reward::classifier(model))
    }

    /// From a reward-model `.bpk` (`palate convert`), a `Uint8Array` or a `Blob` (read a tensor
    /// at a time); the binding limit and
    /// `precision` as in [`Reward::create`].
    #[wasm_bindgen(js_name = fromPack)]
    pub async fn from_pack(
        backend: String,
        data: JsValue,
        max_binding_bytes: Option<f64>,
        precision: Option<String>,
    ) -> Result<Reward, JsValue> {
        let backend: BackendKind = backend.parse().map_err(js_error)?;
        let precision = parse_precision(precision)?;
        let device = device::device(backend).await.map_err(js_error)?;
        let pack = open_pack(data, "reward model .bpk")?;
        let limit = binding_limit(max_binding_bytes);
        let model = RewardModel::from_pack(&pack, &device, limit).and_then(|m| m.quantize(precision)).map_err(js_error)?;
        Ok(Reward::classifier(model))
    }

    /// From a llama-architecture GGUF (a `Uint8Array`, or a `Blob` read by byte ranges): a causal
    /// LM whose reward is follow-up likelihood; its weights are dequantized to f32 on load.
    #[wasm_bindgen(js_name = fromGguf)]
    pub async fn from_gguf(backend: String, data: JsValue, file: String) -> Result<Reward, JsValue> {
        let backend: BackendKind = backend.parse().map_err(js_error)?;
        let device = device::device(backend).await.map_err(js_error)?;
        let gguf = Gguf::open(file_ranges(data, &file)?, &file).map_err(js_error)?;
        let lm = CausalLm::from_gguf(&gguf, &device).map_err(js_error)?;
        let embeddings_on_cpu = lm.decoder().embeddings_on_cpu();
        Ok(Reward { inner: Rc::new(Rewarder::FollowUp(lm)), embeddings_on_cpu })
    }

    /// Resolves to the JSON of `[{ids, logprobs}]` per text (a GGUF causal LM only):
    /// `logprobs[i]` = log p(ids[i + 1] | ids[..i + 1]).
    pub fn logprobs(&self, texts: Vec<String>) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let Rewarder::FollowUp(lm) = inner.as_ref() else {
                return Err(JsError::new("logprobs() needs a causal LM (a .gguf reward model)").into());
            };
            let mut rows = Vec::with_capacity(texts.len());
            for text in &texts {
                let ids = lm.encode(text).map_err(js_error)?;
                let logprobs = if ids.is_empty() { Vec::new() } else { lm.logprobs(&ids).await.map_err(js_error)? };
                rows.push(serde_json::json!({ "ids": ids, "logprobs": logprobs }));
            }
            Ok(to_json(&rows)?.into())
        })
    }

    /// Whether the token-embedding table was kept on the CPU (larger than one GPU binding).
    #[wasm_bindgen(getter, js_name = embeddingsOnCpu)]
    pub fn embeddings_on_cpu(&self) -> bool {
        self.embeddings_on_cpu
    }

    /// Shard file names listed by a model.safetensors.index.json.
    #[wasm_bindgen(js_name = shardNames)]
    pub fn shard_names(index: &[u8]) -> Result<Vec<String>, JsValue> {
        palate_models::pipelines::reward::shard_names(index).map_err(js_error)
    }

    /// Resolves to a Float32Array: one score per response, in order.
    pub fn score(&self, prompt: String, responses: Vec<String>) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let scores = inner.score_conversation(&[], &prompt, &responses).await.map_err(js_error)?;
            Ok(Float32Array::from(scores.as_slice()).into())
        })
    }
}
