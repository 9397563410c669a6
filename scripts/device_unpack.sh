#!/usr/bin/env bash
# On the GPU machine, from the working-tree copy's root: unpacks .carry-src/head.tar (from
# scripts/device_pack.sh) into /tmp/skv-src with .carry beside it, and joins the model parts into
# /tmp/skv-model/<its original file name> once both have arrived (checked against the sha256), with
# /tmp/skv-model.gguf as a second name for it. Pass the first to skv: the model's name, and with
# it RDR's automatic budget profile, comes from the file name ("skv-model" matches no profile).
# Idempotent.
set -u
root=$PWD
src=/tmp/skv-src
if [ -f .carry-src/head.tar ] && ! cmp -s .carry-src/head.tar $src/.head.tar 2>/dev/null; then
  mkdir -p $src && tar -xf .carry-src/head.tar -C $src && cp .carry-src/head.tar $src/.head.tar
fi
[ -d .carry ] && [ ! -d $src/.carry/sysroot ] && cp -r .carry $src/
name=$(cat .carry-m1/model.name 2>/dev/null || echo SmolLM2-135M-Instruct.Q4_1.gguf)
model=/tmp/skv-model/$name
if [ ! -f "$model" ] && [ -f .carry-m1/part.1 ] && [ -f .carry-m2/part.2 ]; then
  mkdir -p /tmp/skv-model
  cat .carry-m1/part.1 .carry-m2/part.2 > /tmp/skv-model.part
  if echo "$(cat .carry-m1/model.sha256)  /tmp/skv-model.part" | sha256sum -c --quiet; then
    mv /tmp/skv-model.part "$model" && ln -f "$model" /tmp/skv-model.gguf
  else
    echo "device_unpack: the joined model does not match its sha256" >&2
  fi
fi
echo "device_unpack: src $src ($(ls $src | wc -l) entries), model $([ -f "$model" ] && echo "$model" || echo 'not yet')"
