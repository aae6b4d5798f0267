//! Golden plans, per cloud: every `testdata/<cloud>/*.yaml` planned offline, with that cloud's
//! profile and the settings in `testdata/<cloud>/settings.json` (the `--<cloud>-*` flags), if any (the `berth plan -o
//! json` path) must equal `*.plan.json`; the errors of invalid objects must equal `*.error.txt`
//! (an Ingress group with a rejected member has both: the plan of the rest, and the member's
//! error). A case with a `*.observed.json` (the cloud's state, in the shape observe returns) is
//! planned against it instead of an empty cloud: updates, no-ops, refused immutable changes.
//! Regenerate after an intended change with `BERTH_UPDATE_GOLDEN=1 cargo test -p berth --test golden`
//! and review the diff.

use berth::cli::plan::{plan_offline, plan_offline_against};
use berth::gather::Selection;
use berth::manifests::Manifests;
use berth::render;
use providers::profile::{Profile, Settings};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[cfg(feature = "aws")]
fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/aws")
}

fn settings(dir: &Path) -> Settings {
    let path = dir.join("settings.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Settings::default();
    };
    let map: BTreeMap<String, String> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Settings::from_pairs(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

#[cfg(feature = "aws")]
#[test]
fn golden_plans_aws() {
    golden_plans("aws", 5);
}

#[cfg(feature = "gcp")]
#[test]
fn golden_plans_gcp() {
    golden_plans("gcp", 4);
}

fn golden_plans(cloud: &str, at_least: usize) {
    let update = std::env::var_os("BERTH_UPDATE_GOLDEN").is_some();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(cloud);
    let selection = Selection::of(Profile::of(cloud).expect("the cloud is compiled in"));
    let settings = settings(&dir);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= at_least,
        "expected the bundled examples in {}, found {inputs:?}",
        dir.display()
    );
    let mut failures = Vec::new();
    for input in &inputs {
        let manifests = Manifests::read_files(&[input]).unwrap();
        let observed_path = input.with_extension("observed.json");
        let planned = if observed_path.exists() {
            let observed: providers::Observed =
                serde_json::from_str(&std::fs::read_to_string(&observed_path).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", observed_path.display()));
            plan_offline_against(&manifests, &selection, "demo", &settings, &observed).unwrap()
        } else {
            plan_offline(&manifests, &selection, "demo", &settings).unwrap()
        };
        assert!(
            !planned.is_empty(),
            "{}: no Service or Ingress selected",
            input.display()
        );
        let errors: Vec<&String> = planned
            .iter()
            .filter_map(|p| p.result.as_ref().err())
            .collect();
        // A plan for what could be planned, and the errors of what could not: an Ingress group
        // with a rejected member has both.
        let mut goldens = Vec::new();
        if planned.iter().any(|p| p.result.is_ok()) {
            let json = serde_json::to_string_pretty(&render::json(&planned)).unwrap() + "\n";
            goldens.push((input.with_extension("plan.json"), json));
        }
        if !errors.is_empty() {
            let text: String = errors.iter().map(|e| format!("{e}\n")).collect();
            goldens.push((input.with_extension("error.txt"), text));
        }
        for ext in ["plan.json", "error.txt"] {
            let path = input.with_extension(ext);
            if path.exists() && !goldens.iter().any(|(g, _)| *g == path) {
                if update {
                    std::fs::remove_file(&path).unwrap();
                } else {
                    failures.push(format!(
                        "{} produced no {ext}, but {} exists",
                        input.display(),
                        path.display()
                    ));
                }
            }
        }
        for (golden, actual) in goldens {
            if update {
                std::fs::write(&golden, &actual).unwrap();
                continue;
            }
            let expected = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
                panic!(
                    "missing {}; run with BERTH_UPDATE_GOLDEN=1 to create it",
                    golden.display()
                )
            });
            if expected != actual {
                failures.push(format!(
                    "{} differs from {}:\n{actual}",
                    input.display(),
                    golden.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[cfg(feature = "aws")]
#[test]
fn text_output_is_a_tree_per_service() {
    let manifests = Manifests::read_files(&[testdata().join("nlb-basic.yaml")]).unwrap();
    let planned = plan_offline(
        &manifests,
        &Selection::default(),
        "demo",
        &Settings::default(),
    );
    let text = render::text(&planned.unwrap());
    assert!(text.starts_with("Service shop/web\n"), "{text}");
    assert!(
        text.contains("  + create LoadBalancer k8s-shop-web-"),
        "{text}"
    );
    assert!(text.contains("  + create Listener k8s-shop-web-"), "{text}");
    assert!(
        text.contains("  + create SecurityGroup k8s-shop-web-"),
        "{text}"
    );
    assert!(text.contains("6 to create"), "{text}");
}
