//! wasm-bindgen glue: exposes [`palate_models`] to JavaScript. It converts bytes and results
//! between JS and Rust and nothing else; every decision lives in `palate-models`, shared with the
//! native CLI. Used from `web/src/worker.js`, never from the page's main thread.

use std::rc::Rc;

use js_sys::{Array, Float32Array, Object, Promise, Reflect, Uint32Array};
use palate_models::{BackendKind, ModelFiles, PalateError, SentenceEmbedder, device};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(e: PalateError) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// A loaded model on one device.
#[wasm_bindgen]
pub struct Embedder {
    inner: Rc<SentenceEmbedder>,
    backend: BackendKind,
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
    ) -> Result<Embedder, JsValue> {
        let backend: BackendKind = backend.parse().map_err(js_error)?;
        let device = device::device(backend).await.map_err(js_error)?;
        let files = ModelFiles { config, tokenizer, weights, sentence_bert_config, modules, pooling_config };
        let inner = SentenceEmbedder::load(files, &device).map_err(js_error)?;
        Ok(Embedder { inner: Rc::new(inner), backend })
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
