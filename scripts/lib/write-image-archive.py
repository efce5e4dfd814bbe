#!/usr/bin/env python3
"""Writes a `docker save`-format archive holding one or more one-layer images (ctr, docker and
kind's node-image builder all read it), without a registry or a daemon.

usage: write-image-archive.py <out.tar> <spec.json>
spec: [{"ref": "registry.k8s.io/etcd:3.6.5-0", "files": [[<source path>, <path in image>], ...],
        "symlinks": [[<path in image>, <target>], ...], "entrypoint": [...], "cmd": [...],
        "env": [...], "labels": {...}}, ...]
A source that is a folder is copied with its contents. Owners become root, times 0, so the same
inputs give the same bytes. A `repositories` file is written before `manifest.json` and names
every image: kind's builder reads the tags of a side-loaded archive from the first of the two
it meets (manifest.json alone would give only the first image's tags).
"""
import hashlib
import io
import json
import os
import sys
import tarfile


def layer_for(spec):
    buf = io.BytesIO()
    seen = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add_dir(path, mode=0o755):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                p = "/".join(parts[:i])
                if p in seen:
                    continue
                seen.add(p)
                info = tarfile.TarInfo(p)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if p == "tmp" else mode
                t.addfile(info)

        def add(src, dest):
            dest = dest.strip("/")
            if os.path.isdir(src) and not os.path.islink(src):
                if dest:
                    add_dir(dest)
                for name in sorted(os.listdir(src)):
                    add(os.path.join(src, name), dest + "/" + name if dest else name)
                return
            if "/" in dest:
                add_dir(dest.rsplit("/", 1)[0])
            if dest in seen:
                return
            seen.add(dest)
            info = t.gettarinfo(src, arcname=dest)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isreg():
                with open(src, "rb") as f:
                    t.addfile(info, f)
            else:
                t.addfile(info)

        for d in ("etc", "tmp", "run"):
            add_dir(d)
        for src, dest in spec.get("files", []):
            add(src, dest)
        for dest, target in spec.get("symlinks", []):
            dest = dest.strip("/")
            if "/" in dest:
                add_dir(dest.rsplit("/", 1)[0])
            info = tarfile.TarInfo(dest)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            seen.add(dest)
            t.addfile(info)
    return buf.getvalue()


def main():
    out, spec_path = sys.argv[1:3]
    with open(spec_path) as f:
        specs = json.load(f)
    entries, blobs, repositories = [], {}, {}
    for spec in specs:
        layer = layer_for(spec)
        diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": spec.get("env", ["PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"]),
                "WorkingDir": "/",
                "Labels": spec.get("labels", {}),
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "scripts/kind-node-image.sh"}],
        }
        if spec.get("entrypoint"):
            config["config"]["Entrypoint"] = spec["entrypoint"]
        if spec.get("cmd"):
            config["config"]["Cmd"] = spec["cmd"]
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        layer_dir = diff_id[7:]
        blobs[config_name] = config_bytes
        blobs[layer_dir + "/layer.tar"] = layer
        entries.append({"Config": config_name, "RepoTags": [spec["ref"]], "Layers": [layer_dir + "/layer.tar"]})
        repo, tag = spec["ref"].rsplit(":", 1)
        repositories.setdefault(repo, {})[tag] = layer_dir
    with tarfile.open(out + ".tmp", mode="w") as t:
        def put(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
        put("repositories", json.dumps(repositories, sort_keys=True).encode())
        put("manifest.json", json.dumps(entries).encode())
        for name in sorted(blobs):
            put(name, blobs[name])
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
