#!/usr/bin/env bash
# Executes the Java notebooks (notebooks/*.ipynb, in file order) with Jupyter's nbconvert and the Lattice kernel;
# fails on the first failing cell, naming the notebook. Usage:
#   notebooks/run-notebooks.sh [NOTEBOOK.ipynb...]      (default: every notebook here)
# Needs jupyter-nbconvert (Debian: jupyter-nbconvert python3-nbclient python3-jupyter-client), Java 17 and Maven.
# Environment:
#   LATTICE_NOTEBOOKS_OUT    where the kernelspec, the executed notebooks and the notebooks' work directory go
#                            (default: a new temporary directory; kept, and printed at the end)
#   LATTICE_NOTEBOOKS_BUILD  0 to use the jars already built (default 1: mvn package of the kernel and what it needs)
#   LATTICE_NOTEBOOKS_ECHO   0 to keep the cells' output out of this script's stderr (default 1: the kernel copies
#                            it there, so a log shows what a failing notebook printed; nbconvert saves nothing then)
#   LATTICE_NOTEBOOKS_MAVEN_ARGS  extra Maven flags for the build, e.g. -o
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
notebooks=()
for nb in "$@"; do
  notebooks+=("$(readlink -f "$nb")")
done
if [[ ${#notebooks[@]} -eq 0 ]]; then
  notebooks=("$root"/notebooks/*.ipynb)
fi
cd "$root"

if ! jupyter nbconvert --version >/dev/null 2>&1; then
  echo "run-notebooks: 'jupyter nbconvert' does not run (Debian: apt-get install --no-install-recommends" \
       "jupyter-nbconvert python3-nbclient python3-jupyter-client)" >&2
  exit 2
fi

kernel_dir="$root/notebooks/kernel/target"
if [[ "${LATTICE_NOTEBOOKS_BUILD:-1}" != 0 ]] || [[ ! -f "$kernel_dir/classpath.txt" ]]; then
  echo "run-notebooks: building the kernel and the Lattice jars (mvn package -pl notebooks/kernel -am)..." >&2
  # shellcheck disable=SC2086
  mvn -B -q -ntp ${LATTICE_NOTEBOOKS_MAVEN_ARGS:-} -DskipTests package -pl notebooks/kernel -am >&2
fi
kernel_jar="$(ls "$kernel_dir"/lattice-notebook-kernel-*.jar | head -1)"
class_path="$kernel_jar:$(cat "$kernel_dir/classpath.txt")"

java_bin="$(command -v "${JAVA_HOME:+$JAVA_HOME/bin/}java")"
java_bin="$(readlink -f "$java_bin")"

out="${LATTICE_NOTEBOOKS_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/lattice-notebooks.XXXXXX")}"
mkdir -p "$out/jupyter/kernels/java" "$out/executed" "$out/work" "$out/runtime"
out="$(cd "$out" && pwd)"

# The kernelspec: the kernel's JVM with Spark's module options (the same list as bin/lattice and surefire's argLine).
echo_output=true
if [[ "${LATTICE_NOTEBOOKS_ECHO:-1}" == 0 ]]; then
  echo_output=false
fi
python3 - "$out/jupyter/kernels/java/kernel.json" "$java_bin" "$class_path" "$root/notebooks/log4j2.properties" \
    "$echo_output" <<'PY'
import json, sys
path, java, cp, log4j, echo = sys.argv[1:]
opens = ["java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio", "java.util",
         "java.util.concurrent", "java.util.concurrent.atomic", "jdk.internal.ref", "sun.nio.ch", "sun.nio.cs",
         "sun.security.action", "sun.util.calendar"]
argv = [java, "-Xmx4g", "-XX:+IgnoreUnrecognizedVMOptions"]
argv += ["--add-opens=java.base/%s=ALL-UNNAMED" % p for p in opens]
argv += ["--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED", "-Dio.netty.tryReflectionSetAccessible=true",
         "-Dai.djl.offline=true", "-Djava.awt.headless=true", "-Dlog4j2.configurationFile=" + log4j,
         "-cp", cp, "dev.lattice.notebook.LatticeKernel", "{connection_file}"]
spec = {"argv": argv, "display_name": "Java (Lattice)", "language": "java", "interrupt_mode": "message",
        "env": {"DJL_OFFLINE": "true", "RUST_FLAVOR": "cpu", "LATTICE_KERNEL_ECHO": echo}}
with open(path, "w") as f:
    json.dump(spec, f, indent=1)
PY

export JUPYTER_PATH="$out/jupyter"
export JUPYTER_RUNTIME_DIR="$out/runtime"
export LATTICE_NOTEBOOK_WORK="$out/work"   # the notebooks' shared work directory (01 writes, 02 and 03 read)

total_start=$SECONDS
for nb in "${notebooks[@]}"; do
  name="$(basename "$nb")"
  start=$SECONDS
  echo "run-notebooks: $name ..." >&2
  if ! jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=900 \
      --ExecutePreprocessor.kernel_name=java --output-dir "$out/executed" "$nb"; then
    echo "run-notebooks: FAILED: $name (after $((SECONDS - start)) s; work directory $out/work)" >&2
    exit 1
  fi
  echo "run-notebooks: $name passed in $((SECONDS - start)) s" >&2
done
echo "run-notebooks: ${#notebooks[@]} notebook(s) passed in $((SECONDS - total_start)) s; executed copies in $out/executed" >&2
