#!/usr/bin/env python3
"""PyYAML's reading of YAML documents, for tests/config_differential.rs.

Reads a JSON list of documents on stdin and prints one line per document:
what yaml.safe_load makes of it as compact ASCII JSON (the format
rccr::config::yaml::to_json writes), or "ERROR <message>".
"""
import json
import sys

import yaml


def main():
    sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace")
    for doc in json.load(sys.stdin):
        try:
            value = yaml.safe_load(doc)
            line = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
        except Exception as e:  # YAML errors, and dates or sets JSON cannot hold
            line = "ERROR " + " ".join(str(e).split())
        print(line)


if __name__ == "__main__":
    main()
