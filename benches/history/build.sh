# Sourced by run.sh and year.sh: builds `agg` and `grow_history` for
# PROFILE (debug or release), with search_recall, and copies them to $WORK/bin, since a build
# during the benchmark must not swap a binary under it. Sets AGG, GROW and
# RECALL;
# WORK is KEEP or a new temporary folder (name pattern $1).
REPO=$PWD
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
flag=""; [ "$PROFILE" = release ] && flag="--release"
echo "building ($PROFILE)…" >&2
cargo build $flag -q -p agg --bin agg --example grow_history --example search_recall
WORK=${KEEP:-$(mktemp -d "/tmp/$1.XXXXXX")}
mkdir -p "$WORK/bin"
cp "$TARGET/$PROFILE/agg" "$TARGET/$PROFILE/examples/grow_history" "$TARGET/$PROFILE/examples/search_recall" "$WORK/bin/"
AGG=$WORK/bin/agg
GROW=$WORK/bin/grow_history
RECALL=$WORK/bin/search_recall
