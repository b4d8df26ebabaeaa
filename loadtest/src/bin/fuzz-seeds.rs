//! Writes the seed corpus of every fuzz target (`certstream::fuzzing::seeds`) to
//! `<out>/<target>/<seed name>`, from the CT test data in `--ctdata`.
//!
//! `cargo run -p loadtest --bin fuzz-seeds -- --out loadtest/fuzz/corpus` (what
//! `loadtest/fuzz/seed.sh` runs).

use std::path::PathBuf;

use anyhow::{Context, Result};
use certstream::fuzzing::{seeds, Target};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// The CT test data (default: the copy in `loadtest/fixtures/ctdata`).
    #[arg(long)]
    ctdata: Option<PathBuf>,
    /// Where the corpus directories go.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let ctdata = args
        .ctdata
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/ctdata"));
    let seeds = seeds::all(&ctdata).with_context(|| format!("reading {}", ctdata.display()))?;
    for target in Target::ALL {
        let dir = args.out.join(target.name());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mine: Vec<_> = seeds.iter().filter(|s| s.target == target).collect();
        for seed in &mine {
            let path = dir.join(&seed.name);
            std::fs::write(&path, &seed.data)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        println!("{:<22} {:>3} seeds", target.name(), mine.len());
    }
    Ok(())
}
