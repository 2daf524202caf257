#!/usr/bin/env bash
# Tries the `imap` source by hand against a throwaway Dovecot, and measures it:
# starts dovecot (Debian `dovecot-imapd`) on a free 127.0.0.1 port with a
# generated config in a temp dir (the same setup as tests/imap.rs), delivers
# N copies of a sample newsletter over IMAP APPEND (each with its own
# Message-ID), then runs `agg run` twice: the first run stores N items, the
# second finds nothing new. Prints wall time and peak RSS of each run.
#
#   scripts/dovecot-test.sh [N]        (default 500; needs python3, GNU time)
#   AGG=target/release/agg scripts/dovecot-test.sh 2000
set -euo pipefail
N=${1:-500}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGG=${AGG:-$ROOT/target/debug/agg}
DOVECOT=${AGG_DOVECOT:-$(command -v dovecot || echo /usr/sbin/dovecot)}
[ -x "$DOVECOT" ] || { echo "dovecot not found: apt-get install -y dovecot-imapd" >&2; exit 1; }
[ -x "$AGG" ] || { echo "$AGG not built: cargo build" >&2; exit 1; }

D=$(mktemp -d)
PW="try-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ "$(id -u)" = 0 ]; then
  # dovecot refuses uid 0 for mail; its own users run login and internals.
  INTERNAL=dovecot LOGIN=dovenull MAILUID=$(id -u nobody) MAILGID=$(id -g nobody)
  chmod 755 "$D"; mkdir -p "$D/mail"; chown "$MAILUID:$MAILGID" "$D/mail"
else
  INTERNAL=$(id -un) LOGIN=$(id -un) MAILUID=$(id -u) MAILGID=$(id -g)
  mkdir -p "$D/mail"
fi
echo "alice:{PLAIN}$PW:$MAILUID:$MAILGID::$D/mail/alice::" > "$D/passwd"
cat > "$D/dovecot.conf" <<EOF
base_dir = $D/run
state_dir = $D/state
log_path = $D/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
default_internal_user = $INTERNAL
default_login_user = $LOGIN
first_valid_uid = $MAILUID
mail_location = maildir:$D/mail/%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $D/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $D/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
"$DOVECOT" -F -c "$D/dovecot.conf" &
DPID=$!
trap 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null; rm -rf "$D"' EXIT

python3 - "$PORT" "$PW" "$N" "$ROOT/tests/fixtures/imap/rust-weekly.eml" <<'EOF'
import imaplib, sys, time
port, pw, n, path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
for _ in range(100):
    try:
        m = imaplib.IMAP4("127.0.0.1", port); break
    except OSError:
        time.sleep(0.05)
m.login("alice", pw)
src = open(path, "rb").read()
for i in range(n):
    m.append("INBOX", None, None, src.replace(b"issue-42.6f1c@", b"issue-%d@" % i))
m.logout()
print(f"delivered {n} mails")
EOF

cd "$D"
cat > p.yaml <<EOF
name: nl
agents:
  newsletters: { kind: imap, host: 127.0.0.1, port: $PORT, tls: none, username: alice, password_env: NL_TRY_PASSWORD, max_messages: $N }
  out: { kind: jsonl, inputs: [newsletters], path: out.jsonl }
EOF
for run in first second; do
  NL_TRY_PASSWORD=$PW /usr/bin/time -f "$run run: wall %e s, peak RSS %M KB" \
    "$AGG" --db agg.db run --json p.yaml > run.json
  python3 -c 'import json,sys; a=json.load(open("run.json"))["agents"][0]; print("  items_out", a["items_out"], "items_new", a["items_new"], "agent", a["duration_ms"], "ms", a["status"])'
done
