//! Hand-made streams for the saga engine: assignment, lifecycle, user
//! controls and persistence.

use agg_saga::{SagaConfig, SagaEngine, SagaError, SagaEvent, SagaId, SagaItem, SagaStatus};
use chrono::{DateTime, Duration, TimeZone, Utc};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap()
}

fn item(id: &str, hours: i64, title: &str) -> SagaItem {
    SagaItem {
        id: id.to_string(),
        time: Some(t0() + Duration::hours(hours)),
        title: title.to_string(),
        text: String::new(),
        source: Some(format!("outlet-{id}")),
        embedding: None,
        ..Default::default()
    }
}

/// An item at `t0` with a sentence embedding and no source.
fn with_embedding(id: &str, title: &str, emb: Vec<f32>) -> SagaItem {
    SagaItem {
        id: id.into(),
        time: Some(t0()),
        title: title.into(),
        embedding: Some(emb),
        ..Default::default()
    }
}

/// Feed items, each at its own time as "now".
fn feed(e: &mut SagaEngine, items: &[SagaItem]) -> Vec<SagaId> {
    items
        .iter()
        .map(|it| e.assign(it, it.time.unwrap()).saga)
        .collect()
}

/// Unrelated background so that document frequencies are realistic.
fn background(start_hour: i64) -> Vec<SagaItem> {
    [
        "Central bank holds interest rates steady amid inflation worries",
        "Heavy snow closes mountain roads across the Alps",
        "Football club sacks manager after losing streak",
        "Scientists map coral bleaching along the reef",
        "Parliament debates new housing bill for renters",
        "Airline strike cancels hundreds of flights in Europe",
        "Film festival opens with a documentary on jazz legends",
        "Wildfire smoke prompts health warnings in the valley",
    ]
    .iter()
    .enumerate()
    .map(|(i, t)| item(&format!("bg{start_hour}-{i}"), start_hour + i as i64, t))
    .collect()
}

/// The same background news on a later day (other item ids).
fn background_again(start_hour: i64) -> Vec<SagaItem> {
    let mut later = background(start_hour);
    for it in &mut later {
        it.id.push('x');
    }
    later
}

/// The first two items of a trial story.
fn trial_opens() -> [SagaItem; 2] {
    [
        item(
            "tr1",
            10,
            "Theranos founder Elizabeth Holmes goes on trial for fraud",
        ),
        item(
            "tr2",
            20,
            "Holmes fraud trial: jury hears from former Theranos lab director",
        ),
    ]
}

#[test]
fn same_story_groups_and_different_stories_stay_apart() {
    let mut e = SagaEngine::default();
    feed(&mut e, &background(0));
    let s = feed(
        &mut e,
        &[
            item(
                "vw1",
                10,
                "EPA says Volkswagen used software to cheat diesel emissions tests",
            ),
            item(
                "vw2",
                11,
                "Volkswagen admits diesel emissions cheating software in 11 million cars",
            ),
            item(
                "fl1",
                11,
                "Floods in Bangladesh displace thousands of families",
            ),
            item(
                "vw3",
                12,
                "Volkswagen chief executive resigns over diesel emissions scandal",
            ),
            item(
                "fl2",
                13,
                "Bangladesh floods: death toll rises as rivers burst banks",
            ),
        ],
    );
    assert_eq!(s[0], s[1]);
    assert_eq!(s[0], s[3]);
    assert_eq!(s[2], s[4]);
    assert_ne!(s[0], s[2]);
}

#[test]
fn a_shared_name_is_not_a_shared_story() {
    let mut e = SagaEngine::default();
    feed(&mut e, &background(0));
    let s = feed(
        &mut e,
        &[
            item(
                "ip1",
                10,
                "Apple unveils iPhone with a bigger screen and faster chip",
            ),
            item(
                "ip2",
                11,
                "Apple iPhone launch: bigger screen, faster chip, higher price",
            ),
            item(
                "ip3",
                12,
                "Analysts weigh iPhone price as Apple shows faster chip",
            ),
            item(
                "fr1",
                13,
                "Early frost ruins apple harvest in Washington orchards",
            ),
        ],
    );
    assert_eq!(s[0], s[1]);
    assert_eq!(s[0], s[2]);
    assert_ne!(s[3], s[0], "the fruit harvest joined the phone saga");
}

#[test]
fn quiet_story_goes_dormant_then_revives() {
    let mut e = SagaEngine::default();
    feed(&mut e, &background(0));
    let a = feed(&mut e, &trial_opens());
    assert_eq!(a[0], a[1]);
    // Ten quiet days with other news.
    feed(&mut e, &background_again(24 * 10));
    assert_eq!(e.saga(a[0]).unwrap().status, SagaStatus::Dormant);
    let events = e.take_events();
    assert!(
        events
            .iter()
            .any(|ev| matches!(ev, SagaEvent::Dormant { saga, .. } if *saga == a[0]))
    );
    let it = item(
        "tr3",
        24 * 12,
        "Elizabeth Holmes found guilty in Theranos fraud trial",
    );
    let r = e.assign(&it, it.time.unwrap());
    assert_eq!(r.saga, a[0]);
    assert!(r.revived);
    assert_eq!(e.saga(a[0]).unwrap().status, SagaStatus::Active);
    assert!(
        e.take_events()
            .iter()
            .any(|ev| matches!(ev, SagaEvent::Revived { saga, .. } if *saga == a[0]))
    );
    let saga = e.saga(a[0]).unwrap();
    assert_eq!(saga.item_count(), 3);
    assert_eq!(saga.first_seen, t0() + Duration::hours(10));
    assert_eq!(saga.last_seen, t0() + Duration::hours(24 * 12));
    assert_eq!(saga.new_since(t0() + Duration::hours(15)).len(), 2);
}

fn vw_engine() -> (SagaEngine, SagaId) {
    let mut e = SagaEngine::default();
    feed(&mut e, &background(0));
    let s = feed(
        &mut e,
        &[
            item(
                "vw1",
                10,
                "EPA says Volkswagen used software to cheat diesel emissions tests",
            ),
            item(
                "vw2",
                11,
                "Volkswagen admits diesel emissions cheating software in 11 million cars",
            ),
        ],
    );
    assert_eq!(s[0], s[1]);
    (e, s[0])
}

#[test]
fn closed_saga_takes_no_new_items() {
    let (mut e, vw) = vw_engine();
    e.close(vw).unwrap();
    assert_eq!(e.saga(vw).unwrap().status, SagaStatus::Closed);
    let it = item(
        "vw3",
        12,
        "Volkswagen diesel emissions scandal: chief executive resigns",
    );
    let r = e.assign(&it, it.time.unwrap());
    assert_ne!(r.saga, vw);
    assert!(r.created);
    e.reopen(vw).unwrap();
    assert_eq!(e.saga(vw).unwrap().status, SagaStatus::Active);
}

#[test]
fn follow_and_mute_are_reported_on_later_items() {
    let (mut e, vw) = vw_engine();
    e.follow(vw, true).unwrap();
    e.mute(vw, true).unwrap();
    let it = item(
        "vw3",
        12,
        "Volkswagen diesel emissions scandal: chief executive resigns",
    );
    let r = e.assign(&it, it.time.unwrap());
    assert_eq!(r.saga, vw);
    assert!(r.followed && r.muted);
    e.mute(vw, false).unwrap();
    let it = item(
        "vw4",
        13,
        "Volkswagen sets aside billions for diesel emissions recall",
    );
    let r = e.assign(&it, it.time.unwrap());
    assert_eq!(r.saga, vw);
    assert!(!r.muted);
}

#[test]
fn rename_fixes_the_title() {
    let (mut e, vw) = vw_engine();
    e.rename(vw, "  Dieselgate ").unwrap();
    let it = item(
        "vw3",
        12,
        "Volkswagen diesel emissions scandal: chief executive resigns",
    );
    e.assign(&it, it.time.unwrap());
    let s = e.saga(vw).unwrap();
    assert_eq!(s.title, "Dieselgate");
    assert!(s.title_fixed);
    let terms = e.key_terms(vw, 5);
    assert!(terms.iter().any(|t| t == "volkswagen"), "{terms:?}");
}

#[test]
fn title_settles_after_a_few_items() {
    let (mut e, vw) = vw_engine();
    assert!(!e.saga(vw).unwrap().title_fixed);
    for (i, t) in [
        "Volkswagen diesel emissions scandal widens to Europe",
        "Volkswagen diesel emissions: regulators in Germany open inquiry",
        "Volkswagen shares plunge on diesel emissions cheating",
    ]
    .iter()
    .enumerate()
    {
        let it = item(&format!("vwx{i}"), 12 + i as i64, t);
        assert_eq!(e.assign(&it, it.time.unwrap()).saga, vw);
    }
    let s = e.saga(vw).unwrap();
    assert!(s.title_fixed);
    let title = s.title.clone();
    let it = item(
        "vwy",
        20,
        "Volkswagen emissions: something else entirely about diesel",
    );
    e.assign(&it, it.time.unwrap());
    assert_eq!(e.saga(vw).unwrap().title, title);
}

#[test]
fn merge_moves_items_and_later_items_follow() {
    let mut e = SagaEngine::default();
    feed(&mut e, &background(0));
    let s = feed(
        &mut e,
        &[
            item(
                "a1",
                10,
                "Mars rover finds ancient lake sediments in crater",
            ),
            item("b1", 11, "Tokyo stock exchange halts trading after glitch"),
        ],
    );
    assert_ne!(s[0], s[1]);
    let into = e.merge(s[0], s[1]).unwrap();
    assert_eq!(into, s[0]);
    assert_eq!(e.saga_of("b1"), Some(s[0]));
    assert_eq!(e.resolve(s[1]), Some(s[0]));
    assert_eq!(e.saga(s[1]).unwrap().status, SagaStatus::Merged);
    assert_eq!(e.live_saga_count(), e.saga_count() - 1);
    let sum = e.saga(s[0]).unwrap().summary();
    assert_eq!(sum.item_count, 2);
    assert_eq!(sum.timeline.len(), 2);
    assert!(
        serde_json::to_string(&sum)
            .unwrap()
            .contains("\"timeline\"")
    );
    assert_eq!(e.saga(s[0]).unwrap().item_count(), 2);
    // A later item about the merged-away topic lands in the survivor.
    let it = item(
        "b2",
        12,
        "Tokyo stock exchange glitch: trading resumes after halt",
    );
    assert_eq!(e.assign(&it, it.time.unwrap()).saga, s[0]);
    // Acting on the tombstone is a clear error.
    assert_eq!(
        e.follow(s[1], true),
        Err(SagaError::MergedSaga {
            saga: s[1],
            into: s[0]
        })
    );
    assert_eq!(e.merge(s[0], s[0]), Err(SagaError::SameSaga(s[0])));
}

#[test]
fn split_stays_split() {
    let mut e = SagaEngine::default();
    feed(&mut e, &background(0));
    let s = feed(
        &mut e,
        &[
            item(
                "m1",
                10,
                "Mars rover finds ancient lake sediments in crater",
            ),
            item("t1", 11, "Tokyo stock exchange halts trading after glitch"),
        ],
    );
    let m = e.merge(s[0], s[1]).unwrap();
    let more = feed(
        &mut e,
        &[
            item(
                "m2",
                12,
                "Mars rover lake sediments hint at ancient microbes",
            ),
            item(
                "t2",
                13,
                "Tokyo stock exchange glitch: trading resumes after halt",
            ),
        ],
    );
    assert_eq!(more, vec![m, m]);
    let new = e.split(m, &["t1", "t2"]).unwrap();
    assert_ne!(new, m);
    assert!(e.kept_apart(m, new));
    assert_eq!(e.saga_of("t1"), Some(new));
    assert_eq!(e.saga_of("m2"), Some(m));
    assert_eq!(e.saga(new).unwrap().split_from, Some(m));
    assert_eq!(e.saga(m).unwrap().item_count(), 2);
    // Later items go to the side they belong to, and the two sagas are never
    // merged back automatically, even by an item that matches both.
    let later = feed(
        &mut e,
        &[
            item(
                "t3",
                14,
                "Tokyo stock exchange blames glitch on software update",
            ),
            item("m3", 15, "Mars rover drills crater rock near ancient lake"),
            item(
                "x1",
                16,
                "Tokyo stock exchange glitch and Mars rover lake crater",
            ),
        ],
    );
    assert_eq!(later[0], new);
    assert_eq!(later[1], m);
    assert!(later[2] == new || later[2] == m);
    assert_ne!(e.resolve(m), e.resolve(new));
    // Re-offering a split item keeps it where the user put it.
    let again = item("t1", 11, "Tokyo stock exchange halts trading after glitch");
    let r = e.assign(&again, again.time.unwrap());
    assert!(r.duplicate);
    assert_eq!(r.saga, new);
}

#[test]
fn controls_on_unknown_sagas_are_errors() {
    let (mut e, vw) = vw_engine();
    let ghost = SagaId(9999);
    assert_eq!(e.merge(vw, ghost), Err(SagaError::UnknownSaga(ghost)));
    assert_eq!(e.merge(ghost, vw), Err(SagaError::UnknownSaga(ghost)));
    assert_eq!(e.split(ghost, &["vw1"]), Err(SagaError::UnknownSaga(ghost)));
    assert_eq!(e.follow(ghost, true), Err(SagaError::UnknownSaga(ghost)));
    assert_eq!(e.rename(ghost, "x"), Err(SagaError::UnknownSaga(ghost)));
    assert_eq!(e.close(SagaId(0)), Err(SagaError::UnknownSaga(SagaId(0))));
    assert!(matches!(
        e.split(vw, &["nope"]),
        Err(SagaError::NotMember { .. })
    ));
    assert!(matches!(
        e.split::<&str>(vw, &[]),
        Err(SagaError::BadSplit(_))
    ));
    assert!(matches!(
        e.split(vw, &["vw1", "vw2"]),
        Err(SagaError::BadSplit(_))
    ));
    let msg = e.merge(vw, ghost).unwrap_err().to_string();
    assert!(msg.contains("9999"), "{msg}");
}

#[test]
fn items_without_text_or_date_are_handled() {
    let mut e = SagaEngine::default();
    let now = t0();
    let empty = SagaItem {
        id: "e1".into(),
        ..Default::default()
    };
    let r = e.assign(&empty, now);
    assert!(r.created);
    assert_eq!(r.time, now, "missing date uses the fetch time");
    assert_eq!(e.saga(r.saga).unwrap().title, format!("Saga {}", r.saga));
    let r2 = e.assign(
        &SagaItem {
            id: "e2".into(),
            ..Default::default()
        },
        now,
    );
    assert!(r2.created, "two empty items share no evidence");
    // Far future and far past dates fall back to the fetch time.
    let future = SagaItem {
        id: "f".into(),
        time: Some(now + Duration::days(400)),
        title: "Comet visible tonight".into(),
        ..Default::default()
    };
    assert_eq!(e.assign(&future, now).time, now);
    let past = SagaItem {
        id: "p".into(),
        time: Some(Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap()),
        title: "Comet visible tonight again".into(),
        ..Default::default()
    };
    assert_eq!(e.assign(&past, now).time, now);
    // A real old date is kept.
    let old = now - Duration::days(300);
    let r = e.assign(
        &SagaItem {
            id: "o".into(),
            time: Some(old),
            title: "Archive piece".into(),
            ..Default::default()
        },
        now,
    );
    assert_eq!(r.time, old);
}

#[test]
fn embeddings_are_used_when_given() {
    let cfg = SagaConfig::default();
    let mut e = SagaEngine::new(cfg);
    // No shared words at all, but near-identical embeddings.
    let a = e.assign(
        &with_embedding("a", "Quake jolts capital", vec![1.0, 0.0, 0.0]),
        t0(),
    );
    let b = e.assign(
        &with_embedding("b", "Tremor shakes city", vec![0.99, 0.141, 0.0]),
        t0(),
    );
    assert_eq!(a.saga, b.saga);
    // Orthogonal embedding, no shared words: new saga.
    let c = e.assign(
        &with_embedding("c", "Chess final drawn", vec![0.0, 0.0, 1.0]),
        t0(),
    );
    assert_ne!(c.saga, a.saga);
}

/// The vectors of a saved state (sentence vectors, term vectors, centroids)
/// are packed as base64 and come back bit for bit; a state saved before, with
/// them as JSON numbers, still loads, saves in the packed form and resumes
/// the same.
#[test]
fn saved_vectors_are_packed_exact_and_older_states_still_load() {
    use base64::Engine as _;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("a packed field is a string"))
            .unwrap()
    };
    let f32_at = |b: &[u8], i: usize| f32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    // Older states: sentence vectors as numbers, term vectors as [id, weight]
    // pairs, centroids as {"id": weight}.
    // Sentence vectors are saved at half precision, behind "h:".
    let halves = |v: &serde_json::Value| -> Vec<f32> {
        let h = v
            .as_str()
            .expect("packed")
            .strip_prefix("h:")
            .expect("half precision");
        let b = base64::engine::general_purpose::STANDARD.decode(h).unwrap();
        (0..b.len())
            .step_by(2)
            .map(|i| half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32())
            .collect()
    };
    let numbers = |v: &serde_json::Value| serde_json::json!(halves(v));
    // The previous version's form: base64 of f32s, no prefix.
    let packed_f32 = |v: &serde_json::Value| {
        let bytes: Vec<u8> = halves(v).iter().flat_map(|x| x.to_le_bytes()).collect();
        serde_json::json!(base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    let pairs = |v: &serde_json::Value| {
        let b = b64(v);
        serde_json::json!(
            (0..b.len())
                .step_by(8)
                .map(|i| (u32_at(&b, i), f32_at(&b, i + 4)))
                .collect::<Vec<_>>()
        )
    };
    let object = |v: &serde_json::Value| {
        let b = b64(v);
        let m: serde_json::Map<String, serde_json::Value> = (0..b.len())
            .step_by(8)
            .map(|i| {
                (
                    u32_at(&b, i).to_string(),
                    serde_json::json!(f32_at(&b, i + 4)),
                )
            })
            .collect();
        serde_json::Value::Object(m)
    };

    let mut e = SagaEngine::default();
    feed(&mut e, &background(0));
    e.assign(
        &with_embedding("a", "Quake jolts capital", vec![0.1, -0.3, 0.7, 0.2]),
        t0(),
    );
    e.assign(
        &with_embedding("b", "Quake jolts capital again", vec![0.1, -0.3, 0.6, 0.2]),
        t0(),
    );
    let packed = e.to_json().unwrap();
    // Maps compare by content: the engine's hash maps save in any order.
    let doc = |json: &str| serde_json::from_str::<serde_json::Value>(json).unwrap();
    let reloaded = SagaEngine::from_json(&packed).unwrap().to_json().unwrap();
    assert_eq!(doc(&reloaded), doc(&packed));

    let mut old = doc(&packed);
    let mut embs = 0;
    for saga in old["sagas"].as_array_mut().unwrap() {
        saga["centroid"] = object(&saga["centroid"]);
        for recent in saga["recent"].as_array_mut().unwrap() {
            recent["vec"] = pairs(&recent["vec"]);
            if !recent["emb"].is_null() {
                recent["emb"] = numbers(&recent["emb"]);
                embs += 1;
            }
        }
    }
    for item in old["items"].as_object_mut().unwrap().values_mut() {
        item["vec"] = pairs(&item["vec"]);
    }
    assert_eq!(embs, 2, "{packed}");
    let text = old.to_string();
    assert!(text.len() > packed.len(), "the packed form is the smaller");
    let from_old = SagaEngine::from_json(&text).unwrap();
    assert_eq!(
        doc(&from_old.to_json().unwrap()),
        doc(&packed),
        "read exactly, saved packed"
    );
    let mut f32s = doc(&packed);
    for saga in f32s["sagas"].as_array_mut().unwrap() {
        for recent in saga["recent"].as_array_mut().unwrap() {
            if !recent["emb"].is_null() {
                recent["emb"] = packed_f32(&recent["emb"]);
            }
        }
    }
    let from_f32 = SagaEngine::from_json(&f32s.to_string()).unwrap();
    assert_eq!(
        doc(&from_f32.to_json().unwrap()),
        doc(&packed),
        "the f32 form reads exactly and saves at half precision"
    );

    let next = with_embedding(
        "c",
        "Capital quake: aftershocks",
        vec![0.1, -0.3, 0.65, 0.2],
    );
    let (mut x, mut y) = (from_old, SagaEngine::from_json(&packed).unwrap());
    assert_eq!(x.assign(&next, t0()).saga, y.assign(&next, t0()).saga);
    assert_eq!(doc(&x.to_json().unwrap()), doc(&y.to_json().unwrap()));
}

#[test]
fn state_round_trips_and_resumes_identically() {
    let items: Vec<SagaItem> = background(0)
        .into_iter()
        .chain([
            item(
                "vw1",
                10,
                "EPA says Volkswagen used software to cheat diesel emissions tests",
            ),
            item(
                "vw2",
                11,
                "Volkswagen admits diesel emissions cheating software",
            ),
            item(
                "fl1",
                11,
                "Floods in Bangladesh displace thousands of families",
            ),
            item(
                "vw3",
                12,
                "Volkswagen chief executive resigns over diesel emissions scandal",
            ),
            item(
                "fl2",
                13,
                "Bangladesh floods: death toll rises as rivers burst banks",
            ),
        ])
        .collect();
    let mut whole = SagaEngine::default();
    let a = feed(&mut whole, &items);

    let mut first = SagaEngine::default();
    let mut b = feed(&mut first, &items[..10]);
    first.follow(b[8], true).unwrap();
    let json = first.to_json().unwrap();
    let mut resumed = SagaEngine::from_json(&json).unwrap();
    b.extend(feed(&mut resumed, &items[10..]));
    assert_eq!(a, b);
    assert!(resumed.saga(b[8]).unwrap().followed);
    assert_eq!(resumed.saga_of("vw1"), Some(a[8]));
}

#[test]
fn batches_are_assigned_in_time_order() {
    let mut e = SagaEngine::default();
    feed(&mut e, &background(0));
    // Given newest first; the oldest must found the saga.
    let batch = vec![
        item(
            "vw3",
            12,
            "Volkswagen chief executive resigns over diesel emissions scandal",
        ),
        item(
            "vw1",
            10,
            "EPA says Volkswagen used software to cheat diesel emissions tests",
        ),
        item(
            "vw2",
            11,
            "Volkswagen admits diesel emissions cheating software in 11 million cars",
        ),
    ];
    let out = e.assign_batch(&batch, t0() + Duration::hours(13));
    assert!(out[1].created);
    assert!(!out[0].created && !out[2].created);
    assert_eq!(out[0].saga, out[1].saga);
    assert_eq!(out[2].saga, out[1].saga);
}

#[test]
fn explain_changes_nothing_and_ranks_the_match_first() {
    let (mut e, vw) = vw_engine();
    let before = e.to_json().unwrap();
    let it = item(
        "vw3",
        12,
        "Volkswagen diesel emissions scandal: chief executive resigns",
    );
    let ex = e.explain(&it, it.time.unwrap(), 3);
    assert_eq!(ex[0].0, vw);
    assert!(ex[0].1 >= e.config().join_threshold);
    assert_eq!(e.to_json().unwrap(), before);
    let a = e.assign(&it, it.time.unwrap());
    assert_eq!(a.saga, vw);
    assert!(
        (a.score - ex[0].1).abs() < 0.05,
        "{} vs {}",
        a.score,
        ex[0].1
    );
}

#[test]
fn odd_text_never_panics() {
    let mut e = SagaEngine::default();
    let long = "Breaking: ".repeat(50_000);
    let odd = [
        "",
        "   ",
        "😀😀😀 — ‘quotes’ “and” dashes – …",
        "ÉLECTIONS À PARIS: Hidalgo réélue",
        "'s 's ' ' '' ''' ...",
        "1,000,000.50 $7.2 billion 8.3 magnitude",
        "日本の首相が辞任",
        "a\u{0}b\u{7f}c\tnew\nline",
        long.as_str(),
    ];
    for (i, t) in odd.iter().enumerate() {
        let it = SagaItem {
            id: format!("odd{i}"),
            time: Some(t0()),
            title: t.to_string(),
            text: t.to_string(),
            ..Default::default()
        };
        let a = e.assign(&it, t0());
        assert!(e.saga(a.saga).is_some());
        assert!(a.score.is_finite());
    }
    let json = e.to_json().unwrap();
    assert!(SagaEngine::from_json(&json).is_ok());
}

/// A quiet story, a followed one and a muted one, then 40 days of other
/// news.
fn archived_engine() -> (SagaEngine, SagaId, SagaId, SagaId) {
    let mut e = SagaEngine::default();
    feed(&mut e, &background(0));
    let mut opens = trial_opens();
    opens[0].embedding = Some(vec![0.6, 0.8, 0.0]);
    let trial = feed(&mut e, &opens);
    let vw = feed(
        &mut e,
        &[
            item(
                "vw1",
                11,
                "Volkswagen admits diesel emissions cheating software",
            ),
            item(
                "vw2",
                12,
                "Volkswagen chief executive resigns over diesel emissions scandal",
            ),
        ],
    );
    assert_eq!((trial[0], vw[0]), (trial[1], vw[1]));
    e.follow(vw[0], true).unwrap();
    let flood = feed(
        &mut e,
        &[item(
            "fl1",
            13,
            "Floods in Bangladesh displace thousands of families",
        )],
    );
    e.mute(flood[0], true).unwrap();
    feed(&mut e, &background_again(24 * 40));
    (e, trial[0], vw[0], flood[0])
}

#[test]
fn long_quiet_sagas_leave_the_live_engine_and_come_back_on_restore() {
    let (mut e, trial, vw, flood) = archived_engine();
    let before = e.to_json().unwrap().len();
    let now = t0() + Duration::days(41);
    let n = e.archive(now);
    let gone = e.take_archived();
    assert_eq!(n, gone.len());
    let ids: Vec<SagaId> = gone.iter().map(|a| a.id()).collect();
    assert!(ids.contains(&trial), "the quiet trial leaves: {ids:?}");
    assert!(!ids.contains(&vw), "a followed saga never leaves");
    assert!(!ids.contains(&flood), "nor does a muted one");
    assert!(e.is_archived(trial) && e.saga(trial).is_none() && e.saga(vw).is_some());
    assert_eq!(e.saga_of("tr1"), None, "its items' records left with it");
    assert!(
        e.take_events()
            .iter()
            .any(|ev| matches!(ev, SagaEvent::Archived { saga, .. } if *saga == trial))
    );
    assert!(
        e.to_json().unwrap().len() < before,
        "the saved state shrinks"
    );
    assert_eq!(e.archive(now), 0, "nothing left to archive");
    // Compacted: the archived copy keeps no sentence vectors.
    let recent = serde_json::to_value(&gone[0]).unwrap()["saga"]["recent"].clone();
    let recent = recent.as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert!(recent.iter().all(|r| r["emb"].is_null()), "{recent:?}");

    // Through serde, as a store keeps them.
    let stored: Vec<String> = gone
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();
    let json = e.to_json().unwrap();
    let verdict = item(
        "tr3",
        24 * 42,
        "Elizabeth Holmes found guilty in Theranos fraud trial",
    );
    let vnow = verdict.time.unwrap();

    // Archived: an item of the old story starts a new saga.
    let mut without = SagaEngine::from_json(&json).unwrap();
    let a = without.assign(&verdict, vnow);
    assert!(a.created && a.saga.0 as usize == without.saga_count());

    // Restored (as a person's control does first): it joins and revives it.
    let mut with = SagaEngine::from_json(&json).unwrap();
    for s in &stored {
        assert!(with.restore(serde_json::from_str(s).unwrap()));
    }
    assert!(
        !with.restore(serde_json::from_str(&stored[0]).unwrap()),
        "already live"
    );
    assert_eq!(with.saga_of("tr1"), Some(trial));
    let b = with.assign(&verdict, vnow);
    assert_eq!(b.saga, trial);
    assert!(b.revived);
    assert_eq!(with.saga(trial).unwrap().item_count(), 3);
}

/// Seventy days of news: a new five-day story every five days (two items
/// a day, words of its own), and a Volkswagen item every nine days.
fn seventy_days() -> Vec<Vec<SagaItem>> {
    let mut days: Vec<Vec<SagaItem>> = Vec::new();
    for d in 0..70i64 {
        // A story of five days per block, each with a word of its own, so
        // that stories end and go quiet.
        // Each block's words are its own (letters spelled from the block
        // number), so stories share nothing and each goes quiet when it
        // ends.
        let word = |k: i64, n: i64| -> String {
            let mut x = k * 7 + n + 11;
            let mut w = String::from("q");
            for _ in 0..5 {
                w.push((b'a' + (x % 26) as u8) as char);
                x /= 3;
            }
            w
        };
        let k = d / 5;
        let (a, b, c) = (word(k, 0), word(k, 1), word(k, 2));
        let mut day = vec![
            item(&format!("s{d}a"), 24 * d + 1, &format!("{a} {b} {c}")),
            item(&format!("s{d}b"), 24 * d + 2, &format!("{c} {a} {b}")),
        ];
        if d % 9 == 0 {
            day.push(item(
                &format!("vw{d}"),
                24 * d + 9,
                "Volkswagen diesel emissions scandal widens",
            ));
        }
        days.push(day);
    }
    days
}

#[test]
fn archiving_then_reloading_assigns_like_the_engine_that_never_stopped() {
    // One engine archives daily and keeps running in memory; the other is
    // saved and reloaded after every day (the archived sagas stored apart,
    // as a run does). Same stream, same assignments, same saved state.
    let days = seventy_days();
    let mut live = SagaEngine::default();
    let mut saved = SagaEngine::default().to_json().unwrap();
    let mut archive_a: Vec<String> = Vec::new();
    let mut archive_b: Vec<String> = Vec::new();
    for (d, day) in days.iter().enumerate() {
        let now = t0() + Duration::days(d as i64 + 1);
        let a = live.assign_batch(day, now);
        live.archive(now);
        archive_a.extend(
            live.take_archived()
                .iter()
                .map(|s| serde_json::to_string(s).unwrap()),
        );
        live.take_events();

        let mut e = SagaEngine::from_json(&saved).unwrap();
        let b = e.assign_batch(day, now);
        e.archive(now);
        archive_b.extend(
            e.take_archived()
                .iter()
                .map(|s| serde_json::to_string(s).unwrap()),
        );
        saved = e.to_json().unwrap();
        assert_eq!(a, b, "day {d}");
    }
    assert!(
        !archive_a.is_empty(),
        "the stream is long enough to archive"
    );
    assert_eq!(archive_a, archive_b);
    // As documents (hash maps save in any order).
    let doc = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    assert_eq!(doc(&live.to_json().unwrap()), doc(&saved));
    assert!(live.is_archived(SagaId(1)) && !live.is_archived(SagaId(15)));
}

/// A store's vocabulary rows (term → id, document frequency), item
/// index rows (key hash → saga index), inverted index rows (term id →
/// saga indices) and live rows' due times (saga id → second), as
/// `Store::save_saga_state` keeps them.
#[derive(Default)]
struct Terms(
    std::collections::BTreeMap<String, (u32, u32)>,
    std::collections::BTreeMap<u64, u32>,
    std::collections::BTreeMap<u32, Vec<u32>>,
    std::collections::BTreeMap<u64, i64>,
);

impl Terms {
    fn apply_dues(&mut self, parts: &agg_saga::StateParts) {
        if parts.dues_whole {
            self.3.clear();
        }
        for id in &parts.gone {
            self.3.remove(id);
        }
        for &(id, due) in &parts.dues {
            match due {
                Some(d) => self.3.insert(id, d),
                None => self.3.remove(&id),
            };
        }
    }
    /// Puts the ids of the sagas due at `now` into `e`, as the store
    /// answers them.
    fn put_due(&self, e: &mut SagaEngine, now: chrono::DateTime<chrono::Utc>) {
        if e.due_in_rows() {
            let due = self.3.iter().filter(|(_, d)| **d <= now.timestamp());
            e.put_due(due.map(|(id, _)| *id));
        }
    }
    fn apply_postings(&mut self, rows: Vec<agg_saga::PostingRow>, whole: bool) {
        if whole {
            self.2.clear();
        }
        for (t, l) in rows {
            if l.is_empty() {
                self.2.remove(&t);
            } else {
                self.2.insert(t, l);
            }
        }
    }
    /// The engine these rows and `core` make whole (a control's load).
    fn whole(
        &self,
        core: &str,
        sagas: impl IntoIterator<Item = String>,
        feeds: impl IntoIterator<Item = (String, String)>,
    ) -> SagaEngine {
        SagaEngine::from_parts(core, sagas, feeds, self.rows(), self.postings()).unwrap()
    }
    fn postings(&self) -> Vec<agg_saga::PostingRow> {
        self.2.iter().map(|(t, l)| (*t, l.clone())).collect()
    }
    /// Puts the stored lists of `asked` into `e`; how many were found.
    fn put_postings(&self, e: &mut SagaEngine, asked: Vec<u32>) -> usize {
        let rows: Vec<agg_saga::PostingRow> = asked
            .iter()
            .filter_map(|t| Some((*t, self.2.get(t)?.clone())))
            .collect();
        let n = rows.len();
        e.put_postings(asked, rows);
        n
    }
    fn apply_items(&mut self, rows: Vec<agg_saga::ItemRow>, whole: bool) {
        if whole {
            self.1.clear();
        }
        for (h, i) in rows {
            match i {
                Some(i) => self.1.insert(h, i),
                None => self.1.remove(&h),
            };
        }
    }
    /// Puts the stored item index rows of `items` into `e`.
    fn put_items(&self, e: &mut SagaEngine, items: &[SagaItem]) {
        let hashes = e.item_hashes(items);
        let rows = hashes
            .iter()
            .filter_map(|h| Some((*h, *self.1.get(h)?)))
            .collect();
        e.put_item_rows(hashes, rows);
    }
    fn apply(&mut self, rows: Vec<agg_saga::TermRow>, whole: bool) {
        if whole {
            self.0.clear();
        }
        self.0
            .extend(rows.into_iter().map(|(t, id, df)| (t, (id, df))));
    }
    fn rows(&self) -> Vec<agg_saga::TermRow> {
        self.0
            .iter()
            .map(|(t, &(id, df))| (t.clone(), id, df))
            .collect()
    }
    /// Puts the stored rows of `keys` into `e`; how many were found.
    fn put(&self, e: &mut SagaEngine, keys: Vec<String>) -> usize {
        let rows: Vec<agg_saga::TermRow> = keys
            .iter()
            .filter_map(|k| self.0.get(k).map(|&(id, df)| (k.clone(), id, df)))
            .collect();
        let n = rows.len();
        e.put_terms(keys, rows).unwrap();
        n
    }
}

#[test]
fn a_state_saved_in_parts_writes_only_changed_sagas_and_reloads_the_same() {
    // As the store keeps it: a core and one row per live saga, rows
    // replaced or removed as a save says. Reloaded every day, it assigns
    // exactly as the engine that kept running in memory.
    let days = seventy_days();
    let mut live = SagaEngine::default();
    let mut core = String::new();
    let mut rows: std::collections::BTreeMap<u64, String> = Default::default();
    let mut feeds: Vec<(String, String)> = Vec::new();
    let mut terms = Terms::default();
    for (d, day) in days.iter().enumerate() {
        let now = t0() + Duration::days(d as i64 + 1);
        let a = live.assign_batch(day, now);
        live.archive(now);
        live.take_archived();

        let mut e = if d == 0 {
            SagaEngine::default()
        } else {
            terms.whole(&core, rows.values().cloned(), feeds.clone())
        };
        let b = e.assign_batch(day, now);
        e.archive(now);
        e.take_archived();
        let parts = e.to_parts().unwrap();
        assert_eq!(a, b, "day {d}");
        if d > 0 {
            // Today's items' sagas, one gone dormant or archived at most.
            assert!(
                parts.sagas.len() + parts.gone.len() <= 4,
                "day {d}: {parts:?}"
            );
        }
        // A due time for each saga row written (all of them the first time).
        assert_eq!(parts.dues_whole, d == 0, "day {d}");
        let written: Vec<u64> = parts.sagas.iter().map(|r| r.0).collect();
        let dued: Vec<u64> = parts.dues.iter().map(|r| r.0).collect();
        if d > 0 {
            assert_eq!(written, dued, "day {d}");
        }
        for (id, body) in parts.sagas {
            rows.insert(id, body);
        }
        for id in &parts.gone {
            assert!(rows.remove(id).is_some(), "day {d}: {id} had a row");
        }
        for (f, body) in parts.feeds {
            feeds.retain(|(g, _)| *g != f);
            feeds.push((f, body));
        }
        if d > 0 {
            // Only the terms today's items brought or counted.
            assert!(!parts.terms_whole && !parts.terms.is_empty(), "day {d}");
            for (t, id, df) in &parts.terms {
                assert_ne!(terms.0.get(t), Some(&(*id, *df)), "day {d}: {t} unchanged");
            }
        }
        if d > 0 {
            // Only lists of terms today's items counted (this stream has
            // no merge), none when they joined sagas listed under their
            // terms already.
            assert!(!parts.postings_whole, "day {d}");
            let today: std::collections::HashSet<u32> = parts.terms.iter().map(|r| r.1).collect();
            for (t, _) in &parts.postings {
                assert!(today.contains(t), "day {d}: list of term {t}");
            }
        }
        terms.apply(parts.terms, parts.terms_whole);
        terms.apply_postings(parts.postings, parts.postings_whole);
        core = parts.core;
        assert!(!core.contains("\"members\""), "the core holds no saga");
        assert!(!core.contains("\"buf\""), "nor the vocabulary's terms");
        assert!(!core.contains("\"items\""), "nor item records");
        let c: serde_json::Value = serde_json::from_str(&core).unwrap();
        assert_eq!(c["feed_stats"], serde_json::json!({}), "nor feed counts");
        assert!(c.get("item_index").is_none(), "nor the item index");
        assert!(c.get("postings").is_none(), "nor the inverted index");
        assert_eq!(c["reach"]["due_in_rows"], true, "nor archive due times");
        assert!(
            c["reach"]["due"].as_str().is_none_or(str::is_empty),
            "{}",
            c["reach"]
        );
        assert!(!feeds.is_empty());
    }
    let reloaded = terms.whole(&core, rows.values().cloned(), feeds.clone());
    // What a run can reach is kept by saves in parts only (the engine that
    // never left memory has none to keep).
    let doc = |s: &str| {
        let mut v = serde_json::from_str::<serde_json::Value>(s).unwrap();
        v.as_object_mut().unwrap().remove("reach");
        v.as_object_mut().unwrap().remove("item_index");
        v.as_object_mut().unwrap().remove("items_in_rows");
        v
    };
    assert_eq!(
        doc(&live.to_json().unwrap()),
        doc(&reloaded.to_json().unwrap())
    );
    assert!(rows.len() < live.saga_count(), "archived sagas have no row");
    assert!(SagaEngine::from_stored(&core).unwrap().needs_sagas());
    let whole = SagaEngine::from_stored(&live.to_json().unwrap()).unwrap();
    assert!(!whole.needs_sagas());
    assert_eq!(
        doc(&whole.to_json().unwrap()),
        doc(&live.to_json().unwrap())
    );
}

/// Sixty days of a busy stream: a dozen stories a day of five days each,
/// told by four outlets, an item now and then offered again on a later
/// day, and embeddings on some.
fn busy_days() -> Vec<Vec<SagaItem>> {
    // Distinct words: a number spelled in base 26.
    let spell = |prefix: char, mut x: usize| -> String {
        let mut w = String::from(prefix);
        for _ in 0..5 {
            w.push((b'a' + (x % 26) as u8) as char);
            x /= 26;
        }
        w
    };
    let word = |k: usize, n: usize| spell('z', k * 4 + n);
    let mut days = Vec::new();
    for d in 0..60usize {
        let mut day = Vec::new();
        for k in 3 * d..3 * d + 15 {
            if (k + d) % 4 == 0 {
                continue;
            }
            let n = day.len();
            let id = format!("d{d}k{k}");
            let title = format!(
                "{} {} {} {}",
                word(k, 0),
                word(k, 1),
                word(k, 2),
                word(k, 3)
            );
            let mut it = item(&id, 24 * d as i64 + n as i64 / 2, &title);
            it.source = Some(format!("outlet-{}", (k + d) % 4));
            it.feed = it.source.clone();
            if k % 2 == 0 {
                let mut emb = vec![0.0f32; 64];
                emb[k % 64] = 1.0;
                emb[(k + 7) % 64] = 0.2;
                it.embedding = Some(emb);
            }
            day.push(it);
        }
        if d % 6 == 5 {
            // Yesterday's first item, offered again.
            let again: SagaItem = days.last().map(|v: &Vec<SagaItem>| v[0].clone()).unwrap();
            day.push(again);
        }
        days.push(day);
    }
    days
}

#[test]
fn a_run_that_loads_only_the_sagas_it_needs_assigns_as_the_whole_engine() {
    // Each day a run reads the core, asks what the day's items need, loads
    // only those sagas' and feeds' rows, places the items and archives, and
    // saves in parts. It must place every item, and archive every saga,
    // exactly as the engine kept whole in memory; and it must load far
    // fewer sagas than are live.
    use std::collections::BTreeMap;
    let days = busy_days();
    let mut live = SagaEngine::default();
    let mut core = String::new();
    let mut rows: BTreeMap<u64, String> = BTreeMap::new();
    let mut feeds: BTreeMap<String, String> = BTreeMap::new();
    let mut terms = Terms::default();
    let apply = |parts: agg_saga::StateParts,
                 rows: &mut BTreeMap<u64, String>,
                 feeds: &mut BTreeMap<String, String>,
                 terms: &mut Terms| {
        if !parts.items_whole {
            // Only the entries that change are written, not those of every
            // member of a saga that changed.
            for (h, i) in &parts.items {
                assert_ne!(terms.1.get(h).copied(), *i, "entry {h:#x} unchanged");
            }
        }
        terms.apply_dues(&parts);
        terms.apply(parts.terms, parts.terms_whole);
        terms.apply_items(parts.items, parts.items_whole);
        terms.apply_postings(parts.postings, parts.postings_whole);
        for (id, body) in parts.sagas {
            rows.insert(id, body);
        }
        for id in &parts.gone {
            rows.remove(id);
        }
        for (f, body) in parts.feeds {
            feeds.insert(f, body);
        }
        parts.core
    };
    let (mut loaded, mut live_rows, mut archived) = (0, 0, 0);
    let (mut terms_read, mut terms_stored) = (0, 0);
    let (mut lists_read, mut lists_stored, mut lists_waited) = (0, 0, 0);
    for (d, day) in days.iter().enumerate() {
        let now = t0() + Duration::days(d as i64 + 1);
        if d == 20 {
            // A person follows a saga between runs (a control loads the
            // whole engine): it must never be archived from then on.
            let mut whole = terms.whole(&core, rows.values().cloned(), feeds.clone());
            let id = whole.sagas().find(|s| s.merged_into.is_none()).unwrap().id;
            whole.follow(id, true).unwrap();
            live.follow(id, true).unwrap();
            core = apply(whole.to_parts().unwrap(), &mut rows, &mut feeds, &mut terms);
        }
        let a: Vec<_> = day.iter().map(|it| live.assign(it, now)).collect();
        live.archive(now);
        let gone_live: Vec<SagaId> = live.take_archived().iter().map(|a| a.id()).collect();

        let mut e = if d == 0 {
            SagaEngine::default()
        } else {
            let mut stored = core.clone();
            if d == 30 {
                // A core saved before it kept which sagas are live: the
                // store's live ids stand in, once.
                let mut c: serde_json::Value = serde_json::from_str(&core).unwrap();
                assert!(c["reach"]["live"].is_string());
                c["reach"].as_object_mut().unwrap().remove("live");
                stored = c.to_string();
            }
            let mut e = SagaEngine::from_stored(&stored).unwrap();
            let keys = e.term_keys(day);
            terms_read += terms.put(&mut e, keys);
            terms_stored += terms.0.len();
            let lists = e.posting_terms();
            lists_read += terms.put_postings(&mut e, lists);
            lists_stored += terms.2.len();
            terms.put_items(&mut e, day);
            assert!(e.due_in_rows(), "day {d}");
            terms.put_due(&mut e, now);
            let need = e.needs(day, now).expect("a core saved in parts tells");
            loaded += need.sagas.len();
            live_rows += rows.len();
            let sagas: Vec<String> = need
                .sagas
                .iter()
                .filter_map(|id| rows.get(id).cloned())
                .collect();
            let fs: Vec<(String, String)> = need
                .feeds
                .iter()
                .filter_map(|f| Some((f.clone(), feeds.get(f)?.clone())))
                .collect();
            assert_eq!(e.knows_live(), d != 30);
            let ids = (!e.knows_live()).then(|| rows.keys().copied().collect());
            e.fill_some(ids, sagas, fs).unwrap();
            // What the core knows of live and archived sagas is what the
            // store's rows say.
            for id in 1..=e.saga_count() as u64 {
                assert_eq!(
                    e.is_archived(SagaId(id)),
                    !rows.contains_key(&id),
                    "day {d}: saga {id}"
                );
            }
            let keys = e.member_term_keys();
            terms_read += terms.put(&mut e, keys);
            e
        };
        let b: Vec<_> = day.iter().map(|it| e.assign(it, now)).collect();
        assert_eq!(a, b, "day {d}");
        // Pushes to lists no item had (a merge) wait for them: read before
        // the archive, as the saga step does.
        let waiting = e.pending_posting_terms();
        lists_waited += waiting.len();
        terms.put_postings(&mut e, waiting);
        e.archive(now);
        let gone: Vec<SagaId> = e.take_archived().iter().map(|a| a.id()).collect();
        assert_eq!(gone_live, gone, "day {d}: archived");
        archived += gone.len();
        core = apply(e.to_parts().unwrap(), &mut rows, &mut feeds, &mut terms);
    }
    assert!(archived >= 5, "the stream archives ({archived})");
    eprintln!("loaded {loaded} of {live_rows} live saga rows over the days");
    assert!(
        loaded * 3 < live_rows,
        "loaded {loaded} of {live_rows} live saga rows over the days"
    );
    eprintln!(
        "read {lists_read} of {lists_stored} stored posting lists over the days, \
         {lists_waited} for pushes that waited"
    );
    assert!(
        lists_read * 3 < lists_stored,
        "read {lists_read} of {lists_stored} stored posting lists over the days"
    );
    eprintln!("read {terms_read} of {terms_stored} stored terms over the days");
    assert!(
        terms_read * 3 < terms_stored,
        "read {terms_read} of {terms_stored} stored terms over the days"
    );
    // And the state saved by partial runs reloads whole as the live engine.
    let whole = terms.whole(&core, rows.values().cloned(), feeds.clone());
    let doc = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    let (mut x, mut y) = (
        doc(&whole.to_json().unwrap()),
        doc(&live.to_json().unwrap()),
    );
    // What a run can reach is kept by saves in parts only.
    for k in ["reach", "item_index", "items_in_rows"] {
        x.as_object_mut().unwrap().remove(k);
        y.as_object_mut().unwrap().remove(k);
    }
    for (k, v) in x.as_object().unwrap() {
        assert_eq!(Some(v), y.get(k), "{k}");
    }
    assert_eq!(x, y);
}

#[test]
fn a_core_saved_before_it_kept_its_reach_is_loaded_whole_once() {
    let days = busy_days();
    let mut e = SagaEngine::default();
    for (d, day) in days.iter().take(10).enumerate() {
        e.assign_batch(day, t0() + Duration::days(d as i64 + 1));
    }
    let parts = e.to_parts().unwrap();
    let mut old: serde_json::Value = serde_json::from_str(&parts.core).unwrap();
    assert!(old.get("reach").is_some());
    old.as_object_mut().unwrap().remove("reach");
    let old = old.to_string();
    let now = t0() + Duration::days(11);
    let core = SagaEngine::from_stored(&old).unwrap();
    assert!(
        core.needs(&days[10], now).is_none(),
        "cannot tell: load all"
    );
    let mut whole = SagaEngine::from_parts(
        &old,
        parts.sagas.iter().map(|s| s.1.clone()),
        parts.feeds.clone(),
        parts.terms.clone(),
        parts.postings.clone(),
    )
    .unwrap();
    let again = whole.to_parts().unwrap();
    assert_eq!(
        again.sagas.len(),
        parts.sagas.len(),
        "every saga written once more"
    );
    let mut next = SagaEngine::from_stored(&again.core).unwrap();
    let mut terms = Terms::default();
    terms.apply(parts.terms.clone(), parts.terms_whole);
    terms.apply(again.terms.clone(), again.terms_whole);
    terms.apply_items(parts.items.clone(), parts.items_whole);
    terms.apply_items(again.items.clone(), again.items_whole);
    terms.apply_postings(parts.postings.clone(), parts.postings_whole);
    terms.apply_postings(again.postings.clone(), again.postings_whole);
    terms.apply_dues(&parts);
    terms.apply_dues(&again);
    terms.put_due(&mut next, now);
    let keys = next.term_keys(&days[10]);
    terms.put(&mut next, keys);
    let lists = next.posting_terms();
    terms.put_postings(&mut next, lists);
    terms.put_items(&mut next, &days[10]);
    assert!(next.needs(&days[10], now).is_some());

    // A core that kept its reach but still held the item records (their
    // rows without them): loaded whole too, and every row written with
    // its records, or the records of the sagas a run did not load would be
    // lost with the next core.
    let mut held: serde_json::Value = serde_json::from_str(&again.core).unwrap();
    held["items"] = serde_json::to_value(
        serde_json::from_str::<serde_json::Value>(&e.to_json().unwrap()).unwrap()["items"].clone(),
    )
    .unwrap();
    let held = held.to_string();
    let bare: Vec<String> = again
        .sagas
        .iter()
        .map(|(_, row)| {
            let v: serde_json::Value = serde_json::from_str(row).unwrap();
            v["saga"].to_string()
        })
        .collect();
    assert!(
        SagaEngine::from_stored(&held)
            .unwrap()
            .needs(&days[10], now)
            .is_none()
    );
    let mut whole = SagaEngine::from_parts(
        &held,
        bare,
        again.feeds.clone(),
        parts.terms.clone(),
        parts.postings.clone(),
    )
    .unwrap();
    let rewritten = whole.to_parts().unwrap();
    assert_eq!(rewritten.sagas.len(), again.sagas.len());
    assert!(
        rewritten
            .sagas
            .iter()
            .all(|(_, r)| r.starts_with("{\"records\":"))
    );
    assert!(!rewritten.core.contains("\"items\""));
}
