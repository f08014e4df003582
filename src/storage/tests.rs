//! The log's own behaviour: release and deletion, the budget, replay of what is owed, damage.

use super::*;
use crate::config::{ByteSize, StorageConfig, SyncMode};
use crate::proto::storage::v1::{record::Kind, Decision, Decisions};
use bytes::Bytes;

fn cfg(dir: &std::path::Path, max_bytes: u64) -> StorageConfig {
    StorageConfig {
        directory: dir.to_path_buf(),
        max_bytes: ByteSize(max_bytes),
        sync: SyncMode::Write,
    }
}

fn segment_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            segment::parse_name(&e.as_ref().unwrap().file_name().to_string_lossy()).is_some()
        })
        .count()
}

fn body(n: u8) -> Bytes {
    Bytes::from(vec![n; 1000])
}

#[test]
fn released_segments_are_deleted_and_owed_records_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let (s, replay) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    drop(replay);
    // 1MiB segments: 3000 records of ~1KB fill three.
    let mut leases: Vec<_> = (0..3000)
        .map(|i| {
            s.append_request(&body(i as u8), SystemTime::now())
                .unwrap()
                .lease
        })
        .collect();
    assert!(segment_files(dir.path()) >= 3);
    let owed = leases.split_off(2990);
    drop(leases); // all but the last ten released: every segment before the active one goes
    assert_eq!(segment_files(dir.path()), 1);
    owed[0].keep_owed();
    drop(owed);
    s.close();
    drop(s);
    assert_eq!(
        segment_files(dir.path()),
        1,
        "the owed record's segment stays"
    );
    let (s, replay) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    let got: Vec<Replayed> = replay.collect();
    assert_eq!(
        got.len(),
        1,
        "only the owed record is replayed, the released ones are marked"
    );
    assert_eq!(got[0].body, body((2990 % 256) as u8));
    drop(got);
    s.close();
    assert_eq!(
        segment_files(dir.path()),
        0,
        "released after replay: nothing left"
    );
}

#[test]
fn the_budget_refuses_requests_until_space_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = Storage::open(&cfg(dir.path(), 4 << 20)).unwrap();
    let mut leases = Vec::new();
    let err = loop {
        match s.append_request(&Bytes::from(vec![7; 100_000]), SystemTime::now()) {
            Ok(a) => leases.push(a.lease),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StorageError::Full { .. }), "{err}");
    assert_eq!(err.refusal_label(), "budget");
    assert!(s.bytes() <= 4 << 20);
    drop(leases);
    s.append_request(&body(1), SystemTime::now()).unwrap();
}

#[test]
fn decisions_are_replayed_by_rule_name() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    let lease = s.append_request(&body(1), SystemTime::now()).unwrap().lease;
    s.append_decisions(&[DecisionEntry {
        trace_id: [9; 16],
        keep: true,
        rule: Some("errors"),
        threshold: 0,
    }]);
    lease.keep_owed();
    drop(lease);
    s.close();
    drop(s);
    let (_s, mut replay) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    let d = replay.take_decisions();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (&d[0].trace_id[..], d[0].keep, d[0].rule.as_str()),
        (&[9u8; 16][..], true, "errors")
    );
    assert_eq!(replay.count(), 1);
}

#[test]
fn a_second_process_on_the_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, _) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    let e = Storage::open(&cfg(dir.path(), 16 << 20)).err().unwrap();
    assert!(matches!(e, StorageError::Locked { .. }), "{e}");
}

#[test]
fn a_path_that_cannot_be_a_directory_names_itself() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("log");
    let e = Storage::open(&cfg(&path, 16 << 20)).err().unwrap();
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("cannot create the directory"), "{msg}");
}

#[tokio::test]
async fn fsync_mode_waits_for_a_group_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path(), 16 << 20);
    c.sync = SyncMode::Fsync;
    let (s, _) = Storage::open(&c).unwrap();
    let a = s.append_request(&body(1), SystemTime::now()).unwrap();
    let b = s.append_request(&body(2), SystemTime::now()).unwrap();
    let (na, nb) = (a.durable_after.unwrap(), b.durable_after.unwrap());
    assert!(nb > na);
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        s.durable(na).await.unwrap();
        s.durable(nb).await.unwrap();
    })
    .await
    .expect("flushed");
}

/// Records left for the next start after `settle` ran on three leases (none, Delivered,
/// Failed(Shutdown)) and a fourth whose acknowledgement was dropped without an outcome.
#[test]
fn acknowledgements_release_delivered_and_keep_what_is_owed() {
    use crate::exporter::{FailReason, Outcome};
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    let ack_with = |n: u8| {
        let lease = s.append_request(&body(n), SystemTime::now()).unwrap().lease;
        let mut held = Held::default();
        held.add(&lease);
        held.add(&lease); // the same record twice in a row is held once
        assert_eq!(held.leases.len(), 1);
        held.into_ack()
    };
    let outcomes = [
        Some(Outcome::Delivered),
        Some(Outcome::Failed(FailReason::RetriesExhausted)),
        Some(Outcome::Failed(FailReason::Shutdown)),
        None,
    ];
    for (n, outcome) in outcomes.into_iter().enumerate() {
        let ack = ack_with(n as u8);
        ack.expect(1);
        match outcome {
            Some(Outcome::Delivered) => ack.resolve(None),
            Some(Outcome::Failed(r)) => ack.resolve(Some(r)),
            None => drop(ack), // an exporter stopped without resolving it
        }
    }
    s.close();
    drop(s);
    let (_s, replay) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    let mut left: Vec<u8> = replay.map(|r| r.body[0]).collect();
    left.sort();
    assert_eq!(
        left,
        [2, 3],
        "shutdown and unresolved stay; delivered and exhausted go"
    );
}

fn decision(t: u8, keep: bool) -> DecisionEntry<'static> {
    DecisionEntry {
        trace_id: [t; 16],
        keep,
        rule: Some("r"),
        threshold: 0,
    }
}

/// A log opened as the daemon opens it (decisions carried forward), holding one request.
fn carrying_with_one_request(dir: &std::path::Path) -> (Storage, Arc<Lease>) {
    let (s, replay) = Storage::open(&cfg(dir, 16 << 20)).unwrap();
    drop(replay);
    s.carry_decisions_forward();
    let first = s.append_request(&body(1), SystemTime::now()).unwrap().lease;
    (s, first)
}

/// The `Decisions` record of `entries`, decided at `decided`, built as prost messages.
fn decisions_record(entries: &[DecisionEntry<'_>], decided: u64) -> Record {
    Record {
        kind: Some(Kind::Decisions(Decisions {
            decisions: entries
                .iter()
                .map(|e| Decision {
                    trace_id: Bytes::copy_from_slice(&e.trace_id),
                    keep: e.keep,
                    rule: e.rule.unwrap_or_default().to_string(),
                    threshold: e.threshold,
                    decided_unix_nanos: decided,
                })
                .collect(),
        })),
    }
}

/// Appends decisions into the request segment, as versions before decisions segments did.
fn append_decisions_among_requests(s: &Storage, entries: &[DecisionEntry<'_>]) {
    s.log
        .append(&decisions_record(entries, 1), Purpose::Internal)
        .unwrap();
}

#[test]
fn decisions_among_requests_still_remembered_are_carried_forward_before_their_segment_goes() {
    let dir = tempfile::tempdir().unwrap();
    let (s, first) = carrying_with_one_request(dir.path());
    // Three decisions in segment 1: trace 1 kept and 2 dropped are still remembered, 3 is not.
    append_decisions_among_requests(
        &s,
        &[decision(1, true), decision(2, false), decision(3, true)],
    );
    s.close();
    drop((s, first));
    // Segment 1 is read back as one that holds requests and decisions.
    let (s, replay) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    s.carry_decisions_forward();
    drop(replay);
    assert!(
        segment::path(dir.path(), 1).exists(),
        "released, but waiting for its decisions to be carried"
    );
    let remembered =
        |id: &crate::otlp::TraceId, keep: bool| (id[0] == 1 && keep) || (id[0] == 2 && !keep);
    assert_eq!(s.carry_decisions(remembered), 2);
    assert!(!segment::path(dir.path(), 1).exists());
    assert_eq!(s.carry_decisions(remembered), 0, "nothing left to carry");
    s.close();
    drop(s);
    let (_s, mut replay) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    let mut d: Vec<(u8, bool)> = replay
        .take_decisions()
        .iter()
        .map(|d| (d.trace_id[0], d.keep))
        .collect();
    d.sort();
    assert_eq!(d, [(1, true), (2, false)]);
}

/// Decision entries for traces `from..to` (the id's first two bytes), all kept.
fn decisions(from: u16, to: u16) -> Vec<DecisionEntry<'static>> {
    (from..to)
        .map(|t| {
            let mut trace_id = [0; 16];
            trace_id[..2].copy_from_slice(&t.to_le_bytes());
            DecisionEntry {
                trace_id,
                keep: true,
                rule: Some("r"),
                threshold: 0,
            }
        })
        .collect()
}

#[test]
fn decisions_live_in_their_own_segments_until_the_cache_has_forgotten_them() {
    let dir = tempfile::tempdir().unwrap();
    let (s, first) = carrying_with_one_request(dir.path());
    // 1MiB segments (a sixteenth of the budget): 40,000 decisions of about 40 bytes fill more
    // than one decisions segment.
    for chunk in 0..40 {
        s.append_decisions(&decisions(chunk * 1000, (chunk + 1) * 1000));
    }
    let decision_segments = || {
        s.log
            .lock()
            .segments
            .iter()
            .filter(|(_, seg)| seg.decisions_only)
            .count()
    };
    assert!(decision_segments() >= 2, "{}", decision_segments());
    // The request segment holds no decisions: released, it goes at once, nothing carried.
    drop(first);
    for i in 0..1100 {
        drop(s.append_request(&body(i as u8), SystemTime::now()).unwrap());
    }
    assert!(!segment::path(dir.path(), 1).exists());
    assert_eq!(s.carry_decisions(|_, _| true), 0);

    // Two parts of the cache, each holding at most 10: the sealed segments are stamped first,
    // kept while one part has not taken in 10 more, deleted once both have.
    let sealed = decision_segments() - 1;
    s.expire_decisions(|| vec![(100, 10), (7, 10)]);
    assert_eq!(decision_segments(), sealed + 1);
    s.expire_decisions(|| vec![(200, 10), (16, 10)]);
    assert_eq!(decision_segments(), sealed + 1, "the second part lags");
    s.expire_decisions(|| vec![(200, 10), (17, 10)]);
    assert_eq!(
        decision_segments(),
        1,
        "only the active decisions segment is left"
    );

    // A restart restores what the active decisions segment holds, and keeps it (sealed now)
    // until the cache has turned over again.
    s.close();
    drop(s);
    let (s, mut replay) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    let restored = replay.take_decisions().len();
    assert!(restored > 0 && restored < 40_000, "{restored}");
    drop(replay);
    let left = || segment_files(dir.path());
    let before = left();
    s.expire_decisions(|| vec![(0, 10)]);
    s.expire_decisions(|| vec![(9, 10)]);
    assert_eq!(left(), before, "not yet forgotten");
    s.expire_decisions(|| vec![(10, 10)]);
    assert_eq!(
        left(),
        before - 1,
        "forgotten after the restart's cache turned over"
    );
}

#[test]
fn without_carrying_released_segments_go_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (s, replay) = Storage::open(&cfg(dir.path(), 16 << 20)).unwrap();
    drop(replay);
    let first = s.append_request(&body(1), SystemTime::now()).unwrap().lease;
    s.append_decisions(&[decision(1, true)]);
    drop(first);
    for i in 0..1100 {
        drop(s.append_request(&body(i as u8), SystemTime::now()).unwrap());
    }
    assert!(!segment::path(dir.path(), 1).exists());
}

#[test]
fn release_marks_survive_a_refused_append() {
    let dir = tempfile::tempdir().unwrap();
    let (s, replay) = Storage::open(&cfg(dir.path(), 4 << 20)).unwrap();
    drop(replay);
    let mut leases = Vec::new();
    while let Ok(a) = s.append_request(&Bytes::from(vec![7; 100_000]), SystemTime::now()) {
        leases.push(a.lease);
    }
    // Release one (in the active segment: not deleted, so its mark is pending), then an
    // append refused at the budget must not lose the mark.
    let last = leases.pop().unwrap();
    let held = leases.len();
    drop(last);
    assert!(s
        .append_request(&Bytes::from(vec![7; 200_000]), SystemTime::now())
        .is_err());
    s.flush_marks();
    for l in &leases {
        l.keep_owed();
    }
    drop(leases);
    s.close();
    drop(s);
    let (_s, replay) = Storage::open(&cfg(dir.path(), 4 << 20)).unwrap();
    assert_eq!(
        replay.count(),
        held,
        "every record but the released one is replayed"
    );
}

#[test]
fn decisions_are_encoded_as_the_record_prost_writes() {
    let entries = [
        decision(1, true),
        DecisionEntry {
            trace_id: [2; 16],
            keep: false,
            rule: None,
            threshold: 0,
        },
        DecisionEntry {
            trace_id: [3; 16],
            keep: true,
            rule: Some(&"a-rather-long-rule-name-".repeat(8)),
            threshold: 0x00ff_ffff_ffff_ffff,
        },
    ];
    for decided in [0, 1_765_000_000_000_000_000] {
        let want = decisions_record(&entries, decided);
        assert_eq!(
            super::encode_decisions(&entries, decided),
            prost::Message::encode_to_vec(&want)
        );
    }
}
