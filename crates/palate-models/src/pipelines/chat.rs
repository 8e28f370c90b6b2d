//! Conversations → the exact text a chat model was trained on, with the model's own
//! `chat_template` (Jinja, rendered by minijinja with Python string methods from
//! minijinja-contrib, as transformers' `apply_chat_template` renders it with jinja2).
//!
//! The template comes from `chat_template.jinja` (what recent transformers writes) or
//! `tokenizer_config.json`'s `chat_template` (a string, or a list of named templates: "default").

use minijinja::{Environment, Error, ErrorKind, context};
use serde::{Deserialize, Serialize};

use crate::error::{PalateError, Result};

pub const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
pub const CHAT_TEMPLATE: &str = "chat_template.jinja";

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Self { role: role.into(), content: content.into() }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TemplateField {
    One(String),
    Named(Vec<NamedTemplate>),
}

#[derive(Deserialize)]
struct NamedTemplate {
    name: String,
    template: String,
}

#[derive(Deserialize, Default)]
struct TokenizerConfig {
    chat_template: Option<TemplateField>,
    bos_token: Option<serde_json::Value>,
    eos_token: Option<serde_json::Value>,
}

/// A model's chat template, ready to render.
pub struct ChatTemplate {
    env: Environment<'static>,
    file: &'static str,
    bos_token: String,
    eos_token: String,
}

/// `bos_token` / `eos_token` are a string or `{"content": …}` in tokenizer_config.json.
fn token_text(v: Option<serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Object(o)) => o.get("content").and_then(|c| c.as_str()).unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

impl ChatTemplate {
    /// From the folder's `tokenizer_config.json` and/or `chat_template.jinja` (which wins).
    pub fn from_files(tokenizer_config: Option<&[u8]>, chat_template_jinja: Option<&[u8]>) -> Result<Self> {
        let config: TokenizerConfig = match tokenizer_config {
            Some(bytes) => serde_json::from_slice(bytes)
                .map_err(|e| PalateError::InvalidJson { file: TOKENIZER_CONFIG.into(), detail: e.to_string() })?,
            None => TokenizerConfig::default(),
        };
        let (source, file) = match (chat_template_jinja, config.chat_template) {
            (Some(bytes), _) => (
                String::from_utf8(bytes.to_vec())
                    .map_err(|e| PalateError::InvalidConfig { file: CHAT_TEMPLATE.into(), detail: e.to_string() })?,
                CHAT_TEMPLATE,
            ),
            (None, Some(TemplateField::One(t))) => (t, TOKENIZER_CONFIG),
            (None, Some(TemplateField::Named(list))) => {
                let t = list.into_iter().find(|t| t.name == "default").ok_or_else(|| PalateError::InvalidConfig {
                    file: TOKENIZER_CONFIG.into(),
                    detail: "chat_template lists named templates but none called \"default\"".into(),
                })?;
                (t.template, TOKENIZER_CONFIG)
            }
            (None, None) => {
                return Err(PalateError::MissingFile {
                    file: CHAT_TEMPLATE.into(),
                    detail: "the model folder has no chat template (chat_template.jinja or tokenizer_config.json's chat_template)".into(),
                });
            }
        };
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> std::result::Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned("chat", source)
            .map_err(|e| PalateError::InvalidConfig { file: file.into(), detail: format!("chat_template does not parse: {e}") })?;
        Ok(Self { env, file, bos_token: token_text(config.bos_token), eos_token: token_text(config.eos_token) })
    }

    /// The conversation as the model's training text (no generation prompt: the last message is
    /// the response being scored).
    pub fn render(&self, messages: &[Message]) -> Result<String> {
        let template = self.env.get_template("chat").map_err(|e| self.error(e))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => false,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|e| self.error(e))
    }

    fn error(&self, e: Error) -> PalateError {
        PalateError::InvalidConfig { file: self.file.into(), detail: format!("chat_template failed to render: {e}") }
    }
}
