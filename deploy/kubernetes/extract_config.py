#!/usr/bin/env python3
"""Prints the tailsift config embedded in a ConfigMap manifest, for `tailsift validate`.

Usage (from the repo root; needs PyYAML):
  python3 deploy/kubernetes/extract_config.py [deploy/kubernetes/configmap.yaml] > /tmp/tailsift.yaml
  cargo run --quiet --bin tailsift -- validate --config /tmp/tailsift.yaml
"""
import sys
from pathlib import Path

import yaml

path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("configmap.yaml"))
docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
maps = [d for d in docs if d.get("kind") == "ConfigMap" and "config.yaml" in d.get("data", {})]
if len(maps) != 1:
    sys.exit(f"{path}: expected one ConfigMap with a config.yaml key, found {len(maps)}")
sys.stdout.write(maps[0]["data"]["config.yaml"])
