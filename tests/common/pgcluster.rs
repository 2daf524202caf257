//! A private PostgreSQL server for one test: `initdb` + `pg_ctl` into a
//! temporary folder, on a free port of 127.0.0.1, so that a test may
//! restart or stop it without disturbing the shared server others use.
//! Stopped and deleted when dropped, also when the test panics.
//!
//! PostgreSQL refuses to run as root; tests run as root here and in CI, so
//! the server then runs as the `postgres` OS user (`runuser`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    as_postgres: bool,
}

/// The newest `/usr/lib/postgresql/*/bin` holding `pg_ctl`.
fn pg_bin() -> PathBuf {
    if let Ok(b) = std::env::var("AGG_TEST_PG_BIN") {
        return PathBuf::from(b);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("pg_ctl").exists().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().map(|(_, b)| b).expect(
        "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin \
         (apt-get install -y postgresql), or set AGG_TEST_PG_BIN",
    )
}

fn is_root() -> bool {
    // The effective uid, from /proc (no libc dependency for one call).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgCluster {
    /// initdb (trust authentication, superuser `postgres`) and start.
    pub fn start() -> PgCluster {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("agg-pgcluster-")
            .tempdir()
            .unwrap();
        let as_postgres = is_root();
        if as_postgres {
            // The server's user must own its folder and reach it.
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "cannot give {} to postgres", dir.path().display());
        }
        let c = PgCluster {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = c.data();
        c.ctl_tool(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        c.pg_ctl(&["start", "-w", "-t", "60"]);
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn ctl_tool(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        } else {
            Command::new(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        }
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data();
        let log = self.log();
        // Sockets in the private folder, TCP on loopback only; fsync off: a
        // test server needs no durability against power loss.
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=60",
            self.port,
            self.dir.path().display()
        );
        let mut all = vec![
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-o",
            &opts,
        ];
        all.extend_from_slice(args);
        self.ctl_tool("pg_ctl", &all);
    }

    /// Restart, closing every connection (`pg_ctl restart -m fast`).
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast", "-w", "-t", "60"]);
    }

    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]);
    }

    pub fn start_again(&self) {
        self.pg_ctl(&["start", "-w", "-t", "60"]);
    }

    /// Creates database `name`; returns its URL.
    pub fn create_db(&self, name: &str) -> String {
        psql(
            &self.url("postgres"),
            &format!("CREATE DATABASE \"{name}\""),
        );
        self.url(name)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Immediate: nothing here is worth a checkpoint. Errors are ignored
        // (the server may be down already); the folder goes with `dir`.
        let data = self.data();
        let exe = self.bin.join("pg_ctl");
        let args = [
            "-D",
            data.to_str().unwrap(),
            "stop",
            "-m",
            "immediate",
            "-w",
        ];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        };
    }
}

/// A fresh database on the shared test server (`AGG_TEST_POSTGRES_URL`, else
/// 127.0.0.1:5432), dropped when the test ends, also when it panics.
pub struct TestDb {
    admin: String,
    name: String,
    pub url: String,
}

impl TestDb {
    pub fn new(tag: &str) -> TestDb {
        let admin = std::env::var("AGG_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("agg_test_{tag}_{}", std::process::id());
        psql(
            &admin,
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        );
        psql(&admin, &format!("CREATE DATABASE \"{name}\""));
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        TestDb {
            admin,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // No assertion here: a panic while a failed test unwinds would abort.
        let _ = Command::new("psql")
            .arg(&self.admin)
            .args([
                "-qAtc",
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// Runs one SQL statement with psql; panics with its error.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql is needed (apt-get install -y postgresql-client)");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
