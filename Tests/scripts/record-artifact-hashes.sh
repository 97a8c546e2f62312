#!/usr/bin/env bash
# Records Tests/fixtures/artifact-hashes.json: the artifact hashes of every shipped config's tiny variant
# (ArtifactHashTests), once per OpenBLAS kernel family, on the commit whose outputs are the reference.
# Run it from the repository root after `swift build -c release --build-tests`. Families this CPU cannot
# run are skipped by OpenBLAS itself (it falls back, and the test records under the name it reports).
set -euo pipefail
cd "$(dirname "$0")/../.."
for core in ${CORES:-Prescott Sandybridge Haswell Zen SkylakeX Cooperlake}; do
  echo "== $core"
  OPENBLAS_CORETYPE=$core AUTODIDACT_RECORD_HASHES=1 swift test -c release --skip-build --filter ArtifactHashTests
done
