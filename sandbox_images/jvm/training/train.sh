#!/bin/sh
# Makes the class-data archives the JVM family's languages.json names, each with the same JVM flags
# and class path its compile or run command uses, so the JVM accepts it at run time.
set -eu
out="$1"
mkdir -p "$out"
work="$(mktemp -d)"
cp "$(dirname "$0")"/Main.java "$(dirname "$0")"/Main.kt "$(dirname "$0")"/Main.scala \
   "$(dirname "$0")"/main.clj "$(dirname "$0")"/script.groovy "$work"
cd "$work"
compiler_jvm="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -XX:MaxRAMPercentage=70 -Xss4m"
run_jvm="-XX:+UseSerialGC -XX:-UsePerfData -XX:MaxRAMPercentage=50"

jflags() { for f in $compiler_jvm; do printf ' -J%s' "$f"; done; }
# shellcheck disable=SC2046
javac $(jflags) -J-XX:ArchiveClassesAtExit="$out/javac.jsa" Main.java
JAVA_OPTS="$compiler_jvm -XX:ArchiveClassesAtExit=$out/kotlinc.jsa" /opt/kotlin/bin/kotlinc Main.kt
JAVA_OPTS="$compiler_jvm -XX:ArchiveClassesAtExit=$out/scalac.jsa" scalac Main.scala
JAVA_OPTS="$compiler_jvm -XX:ArchiveClassesAtExit=$out/groovyc.jsa" groovyc script.groovy
# shellcheck disable=SC2086
echo training | java $run_jvm -XX:ArchiveClassesAtExit="$out/clojure.jsa" -jar /usr/share/java/clojure.jar main.clj
chmod 0644 "$out"/*.jsa
cd /
rm -rf "$work"
