#!/usr/bin/env bash
# Builds what a GPU machine needs to run Lattice's GPU path (it has no Java, no Maven, no network) into
# .gpu/bundle.tar.xz: a jlinked Java 17 runtime, the jars of the GPU path (no Spark, no Hadoop), the test classes and
# the JUnit console launcher, and the CUDA environment script. xz keeps it small enough to travel (a device call
# carries at most 64 MiB); OpenBLAS's native jar is repacked without the variants the CPU backend does not load.
#   gpu/make-bundle.sh            (from the project root; .gpu/ is git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=.gpu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mvn -B -q -o -pl data,parallel,trainer -am -DskipTests package test-compile
mvn -B -q -o -pl trainer -am dependency:build-classpath -Dmdep.outputFile="$stage/cp.txt" -Dmdep.includeScope=test >/dev/null
mvn -B -q -o dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:6.1.3 \
    -DoutputDirectory="$stage/lib" >/dev/null

mkdir -p "$stage/lib" "$stage/test-classes"
# The GPU path's jars: everything trainer needs at run and test time except Spark/Hadoop/Parquet and friends.
tr ':' '\n' < "$stage/cp.txt" | grep -v -E 'hadoop|parquet|spark|zstd|snappy|aircompressor|jts-core|djl|jna|commons-|junit|opentest4j|apiguardian' \
  | grep -v 'openblas-.*-linux-x86_64' | while read -r jar; do cp "$jar" "$stage/lib/"; done
cp data/target/lattice-data-*.jar parallel/target/lattice-parallel-*.jar trainer/target/lattice-trainer-*.jar "$stage/lib/"
rm -f "$stage"/lib/*-tests.jar "$stage"/lib/*-sources.jar
cp -r trainer/target/test-classes/. "$stage/test-classes/"
cp -r parallel/target/test-classes/. "$stage/test-classes/"

# OpenBLAS natives: keep libjniopenblas + libopenblas and its runtime libs; store uncompressed so xz does the work.
ob=$(ls ~/.m2/repository/org/bytedeco/openblas/*/openblas-*-linux-x86_64.jar | head -1)
mkdir -p "$stage/ob" && (cd "$stage/ob" && unzip -q "$ob" \
  && rm -rf org/bytedeco/openblas/linux-x86_64/{libjniopenblas_full.so,include} \
  && zip -q -0 -r "$stage/lib/$(basename "$ob")" .)
rm -rf "$stage/ob"

jlink --add-modules java.base,java.logging,jdk.unsupported,java.management,java.desktop,java.xml,jdk.zipfs \
  --strip-debug --no-header-files --no-man-pages --output "$stage/jre"
cp gpu/cuda-env.sh "$stage/"
cp gpu/run-on-gpu.sh gpu/*.py "$stage/"
cp ../shared/bench/torch_gpt_baseline.py "$stage/" 2>/dev/null || true

mkdir -p "$out"
rm -f "$out/bundle.tar.xz"
tar -C "$stage" -cf - $(cd "$stage" && ls -d jre lib test-classes *.sh *.py 2>/dev/null) | xz -T2 -6 > "$out/bundle.tar.xz"
du -h "$out/bundle.tar.xz"
