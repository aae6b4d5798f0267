use super::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

type Listed = Vec<(String, String, &'static str)>;

fn item(id: &str, owner: &str, v: &'static str) -> (String, String, &'static str) {
    (id.to_string(), owner.to_string(), v)
}

fn ids<'a>(v: &'a [(String, &'static str)]) -> Vec<&'a str> {
    v.iter().map(|(id, _)| id.as_str()).collect()
}

/// A listing that counts its calls and returns `items`.
async fn listing(n: &AtomicU32, items: Listed) -> Result<Listed> {
    n.fetch_add(1, Ordering::SeqCst);
    Ok(items)
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn lists_once_within_the_max_age_and_again_after_it_or_when_asked() {
    let inv = Inventory::new(HOUR);
    let n = AtomicU32::new(0);
    let all = || vec![item("a1", "a", "lb"), item("b1", "b", "lb")];
    for owner in ["a", "b", "a"] {
        let got = inv
            .of_owner(owner, false, || listing(&n, all()))
            .await
            .unwrap();
        assert_eq!(ids(&got), vec![format!("{owner}1")]);
    }
    assert_eq!(
        n.load(Ordering::SeqCst),
        1,
        "one listing for three observes"
    );
    inv.of_owner("a", true, || listing(&n, all()))
        .await
        .unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 2, "a fresh listing when asked");

    let stale = Inventory::new(Duration::ZERO);
    let m = AtomicU32::new(0);
    for _ in 0..2 {
        stale
            .of_owner("a", false, || listing(&m, all()))
            .await
            .unwrap();
    }
    assert_eq!(
        m.load(Ordering::SeqCst),
        2,
        "older than the max age: listed again"
    );
}

#[tokio::test]
async fn concurrent_observers_wait_for_one_listing() {
    let inv = Arc::new(Inventory::new(HOUR));
    let n = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (inv, n) = (inv.clone(), n.clone());
            tokio::spawn(async move {
                // Half of them ask for a fresh listing: they join the one that runs.
                inv.of_owner("a", i % 2 == 0, || async {
                    n.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(vec![item("a1", "a", "lb")])
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(ids(&t.await.unwrap().unwrap()), vec!["a1"]);
    }
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn own_writes_count_at_once_and_survive_a_listing_that_missed_them() {
    let inv = Inventory::new(HOUR);
    let n = AtomicU32::new(0);
    inv.of_owner("a", false, || listing(&n, vec![item("a1", "a", "lb")]))
        .await
        .unwrap();
    inv.insert("a2", "a", "tg");
    inv.remove("a1");
    let got = inv
        .of_owner("a", false, || listing(&n, vec![]))
        .await
        .unwrap();
    assert_eq!(ids(&got), vec!["a2"], "no listing needed to see own writes");
    assert_eq!(n.load(Ordering::SeqCst), 1);

    // A lagging index does not list a2 yet: berth made it, so it stays. a1 came from a listing
    // and is not listed any more: gone.
    inv.insert("a3", "a", "lb");
    let got = inv
        .of_owner("a", true, || listing(&n, vec![item("a3", "a", "lb")]))
        .await
        .unwrap();
    assert_eq!(ids(&got), vec!["a2", "a3"]);
    let got = inv
        .of_owner("a", true, || listing(&n, vec![]))
        .await
        .unwrap();
    assert_eq!(
        ids(&got),
        vec!["a2"],
        "a3 was listed once, so its absence counts"
    );
    inv.remove("a2");
    assert!(inv.records().is_empty());
}

#[tokio::test]
async fn writes_made_while_a_listing_runs_are_replayed_onto_it() {
    let inv = Inventory::new(HOUR);
    inv.insert("old", "a", "lb");
    let got = inv
        .of_owner("a", true, || async {
            // The listing saw "old" (about to be deleted) and not "new" (just created).
            inv.insert("new", "a", "tg");
            inv.remove("old");
            Ok(vec![item("old", "a", "lb")])
        })
        .await
        .unwrap();
    assert_eq!(ids(&got), vec!["new"]);
}

#[tokio::test]
async fn a_failed_listing_fails_its_waiters_and_the_next_call_lists_again() {
    let inv = Arc::new(Inventory::<&str>::new(HOUR));
    let n = Arc::new(AtomicU32::new(0));
    let fail = |n: Arc<AtomicU32>| async move {
        n.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err::<Listed, _>(Error::cloud("GetResources", "Throttling", true))
    };
    let a = tokio::spawn({
        let (inv, n) = (inv.clone(), n.clone());
        async move { inv.of_owner("a", false, || fail(n)).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let b = inv.of_owner("a", false, || fail(n.clone())).await;
    let a = a.await.unwrap();
    assert!(
        a.is_err() && b.as_ref().is_err_and(|e| e.retry_soon()),
        "{b:?}"
    );
    assert_eq!(n.load(Ordering::SeqCst), 1, "the waiter took the outcome");
    let ok = inv
        .of_owner("a", false, || async { Ok(vec![item("a1", "a", "lb")]) })
        .await
        .unwrap();
    assert_eq!(ids(&ok), vec!["a1"]);
}

#[tokio::test]
async fn a_cancelled_listing_leaves_no_journal_behind() {
    let inv = Inventory::<&str>::new(HOUR);
    let slow = inv.of_owner("a", false, || async {
        tokio::time::sleep(HOUR).await;
        Ok(vec![])
    });
    assert!(tokio::time::timeout(Duration::from_millis(20), slow)
        .await
        .is_err());
    assert!(lock(&inv.state).journal.is_none());
    inv.insert("a1", "a", "lb");
    let got = inv
        .of_owner("a", false, || async { Ok(vec![]) })
        .await
        .unwrap();
    assert_eq!(ids(&got), vec!["a1"]);
}
