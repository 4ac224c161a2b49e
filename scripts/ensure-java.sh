#!/bin/sh
# Install Debian's Java 17 runtime for the Spark engine's tests (PySpark starts a JVM) when `java` is
# missing. Idempotent and quiet: does nothing when a Java runtime is on PATH (or DERMA_JAVA names one).
# Spark 4 needs Java 17 or newer.
set -eu

JAVA="${DERMA_JAVA:-java}"
command -v "$JAVA" >/dev/null 2>&1 && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "ensure-java: java is missing and installing it needs root: run 'sudo apt-get install -y openjdk-17-jre-headless'" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-java: java is missing and apt-get is not available: install a Java 17+ runtime and put java on PATH" >&2
    exit 1
fi

echo "ensure-java: installing Debian's openjdk-17-jre-headless (for the Spark engine's tests) ..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
command -v java >/dev/null 2>&1 || { echo "ensure-java: openjdk-17-jre-headless installed but java is still not on PATH" >&2; exit 1; }
