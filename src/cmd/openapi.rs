//! `concierge openapi`: prints the OpenAPI spec the code describes, writes it to the committed
//! copy, or checks that the committed copy matches. Needs no configuration.

use std::path::Path;
use std::process::ExitCode;

use clap::ValueEnum;

// The spec's formats; clap lists them under `--format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SpecFormat {
    Json,
    Yaml,
}

/// `concierge openapi`: print, write or check the spec. Needs no configuration.
#[allow(clippy::print_stdout)]
pub(crate) fn run(format: SpecFormat, check: bool, write: bool, dir: &Path) -> ExitCode {
    let files = [
        ("openapi.json", api::spec_json()),
        ("openapi.yaml", api::spec_yaml()),
    ];
    if !check && !write {
        let (_, text) = match format {
            SpecFormat::Json => &files[0],
            SpecFormat::Yaml => &files[1],
        };
        println!("{}", text.trim_end());
        return ExitCode::SUCCESS;
    }
    let mut stale = Vec::new();
    for (name, generated) in &files {
        let path = dir.join(name);
        let generated = format!("{}\n", generated.trim_end());
        if write {
            if let Err(e) =
                std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &generated))
            {
                eprintln!("concierge openapi: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!("wrote {}", path.display());
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    if stale.is_empty() {
        if check {
            eprintln!("the committed OpenAPI spec matches the code");
        }
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "concierge openapi: {} differ from the code; run `concierge openapi --write` and commit",
            stale.join(" and ")
        );
        ExitCode::FAILURE
    }
}
