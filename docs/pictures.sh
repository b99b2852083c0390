#!/usr/bin/env bash
# Regenerates the sequence charts README.md shows, from the current code.
# Usage: bash docs/pictures.sh   (from the repository root)
set -euo pipefail
cargo build --release --quiet
P=target/release/paxos
$P demo --attack SAFETY --values 2 --deadline 1 --trace docs/safety-off.svg > /dev/null
$P demo --attack SAFETY --values 2 --middleware --trace docs/safety-on.svg > /dev/null
$P demo --attack SAFETY --values 2 --deadline 1 --trace docs/safety-off.mmd > /dev/null
echo "wrote docs/safety-off.svg, docs/safety-on.svg and docs/safety-off.mmd"
