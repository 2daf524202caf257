//! docker-compose.yml cannot be run here (no Docker engine), so this checks
//! that it parses and names the services, ports and environment the README
//! promises, and that the commands it runs exist in this build.

use agg_core::yaml::{Node, Value};

fn strings(n: &Node) -> Vec<String> {
    match &n.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn compose_file_names_what_the_docs_promise() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    // Merge keys (`<<: *agg`) are resolved by the parser, as Compose does.
    let doc = Node::parse(&text, 0).unwrap();
    let services = doc.get("services").unwrap();
    for name in ["postgres", "mail", "serve", "worker-1", "worker-2"] {
        assert!(services.get(name).is_some(), "service {name}");
    }
    let serve = services.get("serve").unwrap();
    assert_eq!(
        strings(serve.get("ports").unwrap()),
        ["127.0.0.1:8080:8080"]
    );
    assert!(serve.get("healthcheck").is_some());
    assert!(
        services
            .get("postgres")
            .unwrap()
            .get("healthcheck")
            .is_some()
    );
    for name in ["serve", "worker-1", "worker-2"] {
        let s = services.get(name).unwrap();
        let env = s.get("environment").unwrap();
        for var in ["AGG_DB", "AGG_SMTP_URL", "AGG_SECRET"] {
            assert!(env.get(var).is_some(), "{name} sets {var}");
        }
        assert!(
            env.get("AGG_DB")
                .unwrap()
                .as_str()
                .unwrap()
                .starts_with("postgres://")
        );
        let deps = s.get("depends_on").unwrap();
        assert_eq!(
            deps.get("postgres")
                .unwrap()
                .get("condition")
                .unwrap()
                .as_str(),
            Some("service_healthy")
        );
        // The command is a real subcommand of this build, on a shipped pipeline.
        let cmd = strings(s.get("command").unwrap());
        let pipeline = cmd[1].strip_prefix("/etc/agg/").unwrap();
        assert!(root.join(pipeline).exists(), "{pipeline}");
        let help = std::process::Command::new(env!("CARGO_BIN_EXE_agg"))
            .args([&cmd[0], "--help"])
            .output()
            .unwrap();
        assert!(help.status.success(), "agg {} exists", cmd[0]);
    }
    assert_eq!(
        strings(services.get("worker-1").unwrap().get("command").unwrap())[0],
        "worker"
    );
    // Secrets are references, never values.
    assert!(!text.contains("POSTGRES_PASSWORD: agg"));
    assert!(text.contains("${AGG_SECRET:?"));
}
