//! `palate`: Palate's models from the command line, on the same code path as the browser.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use palate_models::{BackendKind, ModelFiles, PalateError, SentenceEmbedder, device};

#[derive(Parser)]
#[command(name = "palate", version, about = "Reward models and personal taste, on your own machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sentence embeddings of TEXTs (or of stdin, one text per line).
    Embed {
        /// A Hugging Face model folder (config.json, tokenizer.json, model.safetensors, …).
        #[arg(long)]
        model: PathBuf,
        /// Where to run: cpu (burn Flex) or wgpu (Vulkan/Metal/DX12).
        #[arg(long, default_value = "cpu", value_parser = parse_backend)]
        backend: BackendKind,
        /// Print a JSON array, one object per text: {"text", "ids", "embedding"}.
        #[arg(long)]
        json: bool,
        /// Texts to embed; when none are given, read stdin, one text per line.
        texts: Vec<String>,
    },
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    s.parse().map_err(|e: PalateError| e.to_string())
}

#[derive(serde::Serialize)]
struct EmbedRow<'a> {
    text: &'a str,
    ids: &'a [u32],
    embedding: &'a [f32],
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), PalateError> {
    match cli.command {
        Command::Embed { model, backend, json, texts } => embed(model, backend, json, texts),
    }
}

fn embed(model: PathBuf, backend: BackendKind, json: bool, mut texts: Vec<String>) -> Result<(), PalateError> {
    if texts.is_empty() {
        if std::io::stdin().is_terminal() {
            eprintln!("reading texts from stdin, one per line (Ctrl-D to finish)");
        }
        for line in std::io::stdin().lock().lines() {
            texts.push(line.map_err(|e| PalateError::Io { file: "<stdin>".into(), detail: e.to_string() })?);
        }
    }
    let device = pollster::block_on(device::device(backend))?;
    let embedder = SentenceEmbedder::load(ModelFiles::from_dir(&model)?, &device)?;

    // Chunks so that a long stdin shows progress (the bar hides itself when stderr is no terminal).
    const CHUNK: usize = 256;
    let progress = ProgressBar::new(texts.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} texts, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if texts.len() <= CHUNK {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut results = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(CHUNK) {
        results.extend(embedder.embed_blocking(chunk)?);
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();

    let mut out = std::io::stdout().lock();
    let write_err = |e: std::io::Error| PalateError::Io { file: "<stdout>".into(), detail: e.to_string() };
    if json {
        let rows: Vec<EmbedRow> = texts
            .iter()
            .zip(&results)
            .map(|(text, r)| EmbedRow { text, ids: &r.ids, embedding: &r.embedding })
            .collect();
        serde_json::to_writer(&mut out, &rows).map_err(|e| write_err(e.into()))?;
        writeln!(out).map_err(write_err)?;
    } else {
        for (i, r) in results.iter().enumerate() {
            let head: Vec<String> = r.embedding.iter().take(4).map(|x| format!("{x:+.4}")).collect();
            writeln!(out, "{i}\t{} tokens\t[{}, …] ({} dims)", r.ids.len(), head.join(", "), r.embedding.len())
                .map_err(write_err)?;
        }
    }
    Ok(())
}
