#!/usr/bin/env python3
"""Reads a TensorBoard event file with the tensorboard package's own loader (which checks each record's
masked CRC32C) and prints its scalars as JSON: [[tag, step, value], ...], plus the file version."""
import json, sys
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto import event_pb2

scalars, version = [], None
for raw in RawEventFileLoader(sys.argv[1]).Load():
    e = event_pb2.Event.FromString(raw)
    if e.HasField("file_version"):
        version = e.file_version
    for v in e.summary.value:
        scalars.append([v.tag, e.step, v.simple_value])
print(json.dumps({"version": version, "scalars": scalars}))
