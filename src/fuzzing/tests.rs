//! The fuzz targets over their seeds, cut-off seeds and kept regression inputs, on stable.

use std::path::{Path, PathBuf};

use super::seeds::{self, Seed};
use super::Target;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn all_seeds() -> Vec<Seed> {
    seeds::all(&repo().join("loadtest/fixtures/ctdata")).expect("seed corpus")
}

#[test]
fn every_target_accepts_and_rejects_its_seeds_as_expected() {
    let seeds = all_seeds();
    for target in Target::ALL {
        let mine: Vec<&Seed> = seeds.iter().filter(|s| s.target == target).collect();
        let accepted = mine.iter().filter(|s| target.run(&s.data)).count();
        assert!(accepted > 0, "{}: no seed is accepted", target.name());
        for seed in mine {
            if let Some(expected) = seed.accepted {
                assert_eq!(
                    target.run(&seed.data),
                    expected,
                    "{}/{}",
                    target.name(),
                    seed.name
                );
            }
        }
    }
}

#[test]
fn nearly_every_real_certificate_encodes() {
    let certs: Vec<Seed> = all_seeds()
        .into_iter()
        .filter(|s| s.target == Target::CertToJson)
        .collect();
    let encoded = certs
        .iter()
        .filter(|s| super::cert_to_json(&s.data))
        .count();
    // A handful of the test certificates are deliberately corrupt.
    assert!(certs.len() >= 50, "{} certificates", certs.len());
    assert!(encoded + 5 >= certs.len(), "{encoded} of {}", certs.len());
}

/// Truncation is the commonest hostile input (a cut connection); every target must survive
/// every seed cut at a dozen places.
#[test]
fn cut_off_seeds_never_panic() {
    for seed in all_seeds() {
        let len = seed.data.len();
        for cut in (0..12).map(|k| len * k / 12).chain([len.saturating_sub(1)]) {
            seed.target.run(&seed.data[..cut]);
        }
    }
}

fn regression_dir() -> PathBuf {
    repo().join("loadtest/fixtures/fuzz-regressions")
}

/// Every input a fuzzer once crashed on, kept under
/// `loadtest/fixtures/fuzz-regressions/<target>/`, runs clean now.
#[test]
fn kept_fuzz_findings_run_clean() {
    let mut ran = 0;
    for dir in std::fs::read_dir(regression_dir()).expect("regression dir") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let target = Target::from_name(&name).unwrap_or_else(|| panic!("unknown target {name}"));
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            target.run(&std::fs::read(&file).unwrap());
            ran += 1;
        }
    }
    assert!(ran > 0, "no regression inputs found");
}

/// Each `cargo fuzz` target is the one-line call of its function here.
#[test]
fn fuzz_targets_call_their_functions() {
    let dir = repo().join("loadtest/fuzz/fuzz_targets");
    for target in Target::ALL {
        let path = dir.join(format!("{}.rs", target.name()));
        let source =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let call = format!("certstream::fuzzing::{}(data)", target.name());
        assert!(
            source.contains(&call),
            "{} does not call {call}",
            path.display()
        );
    }
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, Target::ALL.len(), "a fuzz target without a Target");
}
