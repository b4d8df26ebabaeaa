use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;

use super::*;
use crate::frame::{EntryMeta, Frames};

fn run<F: Future<Output = ()> + 'static>(f: F) {
    glommio::LocalExecutorBuilder::default()
        .make()
        .unwrap()
        .run(f);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("certstream-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(dir: PathBuf, segment_bytes: u64) -> StoreConfig {
    StoreConfig {
        dir,
        max_bytes: u64::MAX,
        max_age: Duration::from_secs(1 << 40),
        segment_bytes,
    }
}

const KEY: LogKey = *b"\x01\x23\x45\x67\x89\xab\xcd\xef";

fn about() -> LogAbout {
    LogAbout::new("https://ct.example.net/log/", "Example log", &[7; 32])
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn entry(index: u64, seen_us: u64) -> Arc<Frames> {
    let body = |form: &str, n: usize| Bytes::from(format!("{form}-{index}-").repeat(n));
    Arc::new(Frames {
        lite: body("lite", 5 + (index % 7) as usize),
        full: body("full", 20 + (index % 13) as usize),
        domains: body("dom", 1 + (index % 3) as usize),
        meta: EntryMeta {
            log_id: [7; 32],
            index,
            seen_us,
            leaf_sha256: [index as u8; 32],
            ..EntryMeta::default()
        },
    })
}

fn entries(indexes: std::ops::Range<u64>) -> Vec<Arc<Frames>> {
    indexes.map(|i| entry(i, 1_000 + i)).collect()
}

fn same(stored: &StoredEntry, f: &Frames) -> bool {
    stored.index == f.meta.index
        && stored.seen_us == f.meta.seen_us
        && stored.leaf_sha256 == f.meta.leaf_sha256
        && stored.lite == f.lite
        && stored.full == f.full
        && stored.domains == f.domains
}

async fn append_pages(w: &mut LogWriter, all: &[Arc<Frames>], page: usize) {
    for chunk in all.chunks(page) {
        w.append(chunk).await.unwrap();
    }
}

/// Every entry a fresh reader returns from index 0 on, in small batches.
async fn read_all(cfg: &StoreConfig) -> Vec<StoredEntry> {
    let Some(mut r) = LogReader::open(cfg, KEY).await.unwrap() else {
        return Vec::new();
    };
    let mut out: Vec<StoredEntry> = Vec::new();
    loop {
        let from = out.last().map_or(0, |e| e.index + 1);
        let batch = r.read_from(from, 700).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        assert!(batch.iter().all(|e| e.index >= from));
        out.extend(batch);
    }
}

fn segment_paths(cfg: &StoreConfig) -> Vec<PathBuf> {
    let dir = cfg.log_dir(KEY);
    segment::list_segments_blocking(&dir)
        .unwrap()
        .into_iter()
        .map(|f| dir.join(segment::file_name(f)))
        .collect()
}

#[test]
fn round_trip_across_segment_rolls() {
    run(async {
        let cfg = config(temp_dir("round-trip"), 2048);
        let all = entries(0..100);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        append_pages(&mut w, &all, 7).await;
        let held = w.held();
        assert!(held.segments > 3, "{held:?}");
        assert_eq!((held.first_index, held.next_index), (Some(0), Some(100)));
        assert_eq!(held.oldest_seen_us, Some(1_000));
        let read = read_all(&cfg).await;
        assert_eq!(read.len(), all.len());
        assert!(read.iter().zip(&all).all(|(s, f)| same(s, f)));
        assert_eq!(list_logs(&cfg).await.unwrap(), vec![(KEY, about())]);
    });
}

#[test]
fn reopen_continues_and_skips_duplicates() {
    run(async {
        let cfg = config(temp_dir("reopen"), 4096);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        append_pages(&mut w, &entries(0..20), 5).await;
        drop(w);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        assert_eq!(w.next_index(), Some(20));
        let report = w.append(&entries(10..30)).await.unwrap();
        assert_eq!((report.stored, report.duplicates), (10, 10));
        let indexes: Vec<u64> = read_all(&cfg).await.iter().map(|e| e.index).collect();
        assert_eq!(indexes, (0..30).collect::<Vec<_>>());
    });
}

#[test]
fn torn_tail_is_truncated_and_never_served() {
    run(async {
        let cfg = config(temp_dir("torn"), 1 << 20);
        let all = entries(0..10);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        append_pages(&mut w, &all, 3).await;
        drop(w);
        let path = segment_paths(&cfg).pop().unwrap();
        let whole = std::fs::metadata(&path).unwrap().len();
        // Cut mid-record: the last entry is lost, the rest served.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(whole - 5)
            .unwrap();
        let w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        assert_eq!(w.next_index(), Some(9));
        assert!(w.held().corrupt.is_empty());
        let read = read_all(&cfg).await;
        assert_eq!(read.len(), 9);
        assert!(read.iter().zip(&all).all(|(s, f)| same(s, f)));
        // A bad checksum in the last record is a torn tail too.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        assert_eq!(w.next_index(), Some(8));
        assert!(w.held().corrupt.is_empty());
        assert_eq!(read_all(&cfg).await.len(), 8);
        w.append(&all[8..9]).await.unwrap();
        drop(w);
        // Garbage after the last whole record is cut off too.
        let truncated = std::fs::metadata(&path).unwrap().len();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0xA5; 300]);
        std::fs::write(&path, bytes).unwrap();
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), truncated);
        w.append(&entries(9..10)).await.unwrap();
        let read = read_all(&cfg).await;
        assert_eq!(read.len(), 10);
        assert!(read.iter().zip(&all).all(|(s, f)| same(s, f)));
    });
}

#[test]
fn flipped_byte_in_an_older_segment_is_reported_and_skipped() {
    run(async {
        let cfg = config(temp_dir("flipped"), 2048);
        let all = entries(0..100);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        append_pages(&mut w, &all, 5).await;
        drop(w);
        let paths = segment_paths(&cfg);
        let victim = &paths[1];
        let mut bytes = std::fs::read(victim).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(victim, bytes).unwrap();
        let w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        let corrupt = w.held().corrupt;
        assert_eq!(corrupt.len(), 1, "{corrupt:?}");
        let lost = corrupt[0].clone();
        assert!(!lost.is_empty() && lost.end <= 100, "{lost:?}");
        assert_eq!(w.next_index(), Some(100));
        let read = read_all(&cfg).await;
        let expected: Vec<&Arc<Frames>> = all
            .iter()
            .filter(|f| !lost.contains(&f.meta.index))
            .collect();
        assert_eq!(read.len(), expected.len());
        assert!(read.iter().zip(expected).all(|(s, f)| same(s, f)));
    });
}

#[test]
fn damage_inside_the_newest_segment_is_reported_and_writing_moves_on() {
    run(async {
        let cfg = config(temp_dir("newest-damage"), 1 << 20);
        let all = entries(0..30);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        append_pages(&mut w, &all[..20], 5).await;
        drop(w);
        let path = segment_paths(&cfg).pop().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        let corrupt = w.held().corrupt;
        assert_eq!(corrupt.len(), 1, "{corrupt:?}");
        let lost = corrupt[0].clone();
        assert_eq!(lost.end, 20, "what followed the damage is not stored again");
        assert_eq!(w.next_index(), Some(20));
        let report = w.append(&all[10..30]).await.unwrap();
        assert_eq!((report.stored, report.duplicates), (10, 10));
        assert_eq!(w.held().segments, 2, "writing went on in a new segment");
        let read = read_all(&cfg).await;
        let expected: Vec<&Arc<Frames>> = all
            .iter()
            .filter(|f| !lost.contains(&f.meta.index))
            .collect();
        assert_eq!(read.len(), expected.len());
        assert!(read.iter().zip(expected).all(|(s, f)| same(s, f)));
    });
}

#[test]
fn readers_across_retention() {
    run(async {
        let mut cfg = config(temp_dir("retention-readers"), 2048);
        cfg.max_bytes = 5000;
        let all = entries(0..100);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        append_pages(&mut w, &all[..10], 5).await;
        let mut r = LogReader::open(&cfg, KEY).await.unwrap().unwrap();
        let first = r.read_from(0, 1).await.unwrap();
        assert_eq!(first.len(), 1);
        // Retention deletes the segment this reader is in: its open file stays readable.
        append_pages(&mut w, &all[10..], 5).await;
        let held = w.held();
        assert!(held.first_index.unwrap() > 10, "{held:?}");
        let mut got = first;
        loop {
            let from = got.last().unwrap().index + 1;
            let batch = r.read_from(from, 500).await.unwrap();
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
        }
        assert_eq!(got.first().unwrap().index, 0);
        assert_eq!(got.last().unwrap().index, 99);
        assert!(got.windows(2).all(|p| p[0].index < p[1].index));
        assert!(got.iter().all(|e| same(e, &all[e.index as usize])));
        // A new reader starts at the oldest entry held.
        let mut r = LogReader::open(&cfg, KEY).await.unwrap().unwrap();
        assert_eq!(r.first_index(), held.first_index);
        let batch = r.read_from(0, 1).await.unwrap();
        assert_eq!(batch[0].index, held.first_index.unwrap());
    });
}

#[test]
fn retention_deletes_whole_oldest_segments_never_the_current() {
    run(async {
        let mut cfg = config(temp_dir("retention-bytes"), 2048);
        cfg.max_bytes = 6000;
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        append_pages(&mut w, &entries(0..100), 5).await;
        let held = w.held();
        assert!(held.bytes <= 6000 + 2048 + 2048, "{held:?}");
        assert!(held.first_index.unwrap() > 0);
        assert_eq!(held.next_index, Some(100));
        let read = read_all(&cfg).await;
        assert_eq!(read.first().map(|e| e.index), held.first_index);
        assert_eq!(read.last().map(|e| e.index), Some(99));

        // By age: old entries go once newer segments exist; a lone current segment stays.
        let mut cfg = config(temp_dir("retention-age"), 2048);
        cfg.max_age = Duration::from_secs(60);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        let old: Vec<_> = (0..40).map(|i| entry(i, 1_000 + i)).collect();
        append_pages(&mut w, &old, 5).await;
        assert_eq!(w.held().segments, 1, "only the current segment survives");
        let fresh: Vec<_> = (40..80).map(|i| entry(i, now_us())).collect();
        append_pages(&mut w, &fresh, 5).await;
        let held = w.held();
        assert!(held.first_index.unwrap() >= 35, "{held:?}");
        assert!(held.oldest_seen_us.unwrap() > 1_000_000);
    });
}

#[test]
fn first_index_seen_since() {
    run(async {
        let cfg = config(temp_dir("since"), 2048);
        let all: Vec<_> = (0..60).map(|i| entry(i * 2, 10_000 + i * 100)).collect();
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        append_pages(&mut w, &all, 4).await;
        let mut r = LogReader::open(&cfg, KEY).await.unwrap().unwrap();
        assert_eq!(r.first_index(), Some(0));
        assert_eq!(r.first_index_seen_since(0).await.unwrap(), Some(0));
        assert_eq!(r.first_index_seen_since(12_050).await.unwrap(), Some(42));
        assert_eq!(r.first_index_seen_since(15_900).await.unwrap(), Some(118));
        assert_eq!(r.first_index_seen_since(15_901).await.unwrap(), None);
        let none = config(temp_dir("since-none"), 2048);
        assert!(LogReader::open(&none, KEY).await.unwrap().is_none());
    });
}

#[test]
fn a_reader_at_the_live_end_never_errors() {
    run(async {
        let cfg = config(temp_dir("live"), 2048);
        let all = entries(0..60);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        w.append(&all[..1]).await.unwrap();
        let mut r = LogReader::open(&cfg, KEY).await.unwrap().unwrap();
        let mut got: Vec<StoredEntry> = Vec::new();
        for chunk in all[1..].chunks(3) {
            let from = got.last().map_or(0, |e| e.index + 1);
            got.extend(r.read_from(from, 1 << 20).await.unwrap());
            assert!(r
                .read_from(w.next_index().unwrap(), 1 << 20)
                .await
                .unwrap()
                .is_empty());
            w.append(chunk).await.unwrap();
        }
        // A write in progress: half a record at the end of the newest segment.
        let path = segment_paths(&cfg).pop().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let mut record = Vec::new();
        segment::encode_record(&entry(60, 0), &mut record);
        bytes.extend_from_slice(&record[..record.len() / 2]);
        std::fs::write(&path, bytes).unwrap();
        loop {
            let from = got.last().map_or(0, |e| e.index + 1);
            let batch = r.read_from(from, 1 << 20).await.unwrap();
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
        }
        assert_eq!(got.len(), all.len());
        assert!(got.iter().zip(&all).all(|(s, f)| same(s, f)));
    });
}

/// xorshift64: a fixed-seed stream of mutations, reproducible.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn arbitrary_bytes_never_panic_nor_serve_bad_entries() {
    run(async {
        let cfg = config(temp_dir("mutate"), 3000);
        let all = entries(0..40);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        append_pages(&mut w, &all, 4).await;
        drop(w);
        let pristine: Vec<(PathBuf, Vec<u8>)> = segment_paths(&cfg)
            .into_iter()
            .map(|p| (p.clone(), std::fs::read(p).unwrap()))
            .collect();
        let mut seed = 0x5EED_CAFE_F00D_u64;
        let (mut reported, mut lossy) = (0, 0);
        for _ in 0..60 {
            for (path, bytes) in &pristine {
                let mut bytes = bytes.clone();
                for _ in 0..1 + next_random(&mut seed) % 4 {
                    let at = (next_random(&mut seed) as usize) % bytes.len();
                    match next_random(&mut seed) % 3 {
                        0 => bytes[at] = next_random(&mut seed) as u8,
                        1 => bytes.truncate(at),
                        _ => bytes.splice(at..at, [0xFF; 9]).for_each(drop),
                    }
                    if bytes.is_empty() {
                        break;
                    }
                }
                std::fs::write(path, bytes).unwrap();
            }
            let w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
            reported += usize::from(!w.held().corrupt.is_empty());
            let read = read_all(&cfg).await;
            lossy += usize::from(read.len() < all.len());
            for stored in read {
                let original = &all[stored.index as usize];
                assert!(same(&stored, original), "served a damaged entry");
            }
            for (path, bytes) in &pristine {
                std::fs::write(path, bytes).unwrap();
            }
        }
        // The mutations did reach the records (the loop above is not vacuous).
        assert!(
            reported > 0 && lossy > 0,
            "reported {reported}, lossy {lossy}"
        );
    });
}

fn real_entries() -> Vec<Arc<Frames>> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("loadtest/fixtures/ctdata/rfc6962");
    let source = crate::ct::entry::EntrySource {
        log_id: [7; 32],
        url: "https://ct.example.net/log/",
        name: "Example log",
        cert_link: "https://ct.example.net/log/ct/v1/get-entries?start=1&end=1",
    };
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("get-entries"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let body = std::fs::read(&path).unwrap();
        let Ok(page) = crate::ct::rfc6962::parse_get_entries(&body, 0, 1 << 20) else {
            continue;
        };
        for entry in page.into_iter().flatten() {
            if let Ok(mut frames) = crate::cert::encode_entry(&entry, &source, 1.7e9) {
                frames.meta.index = out.len() as u64;
                out.push(Arc::new(frames));
            }
        }
    }
    out
}

#[test]
fn real_entries_round_trip() {
    run(async {
        let all = real_entries();
        assert!(all.len() >= 10, "fixtures: {} entries", all.len());
        let cfg = config(temp_dir("real"), limits::REPLAY_SEGMENT_BYTES);
        let mut w = LogWriter::open(&cfg, KEY, &about()).await.unwrap();
        let report = w.append(&all).await.unwrap();
        let per_entry = (report.bytes - segment::HEADER_BYTES as u64) / all.len() as u64;
        let form = |f: fn(&Frames) -> usize| all.iter().map(|e| f(e)).sum::<usize>() / all.len();
        eprintln!(
            "{} real entries: {per_entry} bytes each on disk (lite {}, full {}, domains {})",
            all.len(),
            form(|f| f.lite.len()),
            form(|f| f.full.len()),
            form(|f| f.domains.len()),
        );
        let bound = limits::REPLAY_BYTES_PER_ENTRY;
        assert!(
            (bound / 2..=bound * 2).contains(&per_entry),
            "{per_entry} vs {bound}"
        );
        let read = read_all(&cfg).await;
        assert_eq!(read.len(), all.len());
        assert!(read.iter().zip(&all).all(|(s, f)| same(s, f)));
    });
}
