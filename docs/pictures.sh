#!/usr/bin/env bash
# Regenerates the sequence charts README.md and docs/ show, from the current
# code. They come from the simulator's replay of one seed, which is
# deterministic, so the same code always draws the same pictures:
# tests/pictures.rs runs this script and fails when a committed picture
# differs from what the code makes.
#
# Usage: bash docs/pictures.sh            (from the repository root)
#        PAXOS=path/to/paxos OUT=dir bash docs/pictures.sh
set -euo pipefail
if [ -z "${PAXOS:-}" ]; then
    cargo build --release --quiet
    PAXOS=target/release/paxos
fi
OUT=${OUT:-docs}
sim() { "$PAXOS" sim --seed 0 --replay "$@" > /dev/null; }
sim --values 1 --trace "$OUT/honest.svg"                               # no attack: the five messages
sim --attack SAFETY --trace "$OUT/safety-off.svg"                      # agreement broken
sim --attack SAFETY --defences echo --trace "$OUT/safety-on.svg"       # the echo catches it
sim --attack SAFETY --trace "$OUT/safety-off.mmd"                      # the same, as Mermaid
sim --attack LIVENESS --trace "$OUT/liveness-off.svg"                  # nothing commits
sim --attack LIVENESS --defences prepare-limit --trace "$OUT/liveness-on.svg"
echo "wrote honest.svg, safety-off.svg, safety-on.svg, safety-off.mmd, liveness-off.svg and liveness-on.svg in $OUT"
