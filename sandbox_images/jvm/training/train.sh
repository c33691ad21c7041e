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
log="-Xlog:disable -Xlog:all=warning:stderr"
compiler_jvm="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -XX:MaxRAMPercentage=70 -Xss4m $log"
run_jvm="-XX:+UseSerialGC -XX:-UsePerfData -XX:MaxRAMPercentage=50 $log"

jflags() { for f in $compiler_jvm "$@"; do printf ' -J%s' "$f"; done; }

# Each compile and run the languages.json commands do, the JVM told to write ($1 = -XX:ArchiveClassesAtExit)
# or to use ($1 = -XX:SharedArchiveFile) its archive, with any further flag in $2.
train() {
  a="$1"
  x="${2:-}"
  # shellcheck disable=SC2046,SC2086
  javac $(jflags "$a=$out/javac.jsa" $x) Main.java
  JAVA_OPTS="$compiler_jvm $a=$out/kotlinc.jsa $x" /opt/kotlin/bin/kotlinc Main.kt
  JAVA_OPTS="$compiler_jvm $a=$out/scalac.jsa $x" scalac Main.scala
  JAVA_OPTS="$compiler_jvm $a=$out/groovyc.jsa $x" groovyc script.groovy
  # shellcheck disable=SC2086
  echo training | java $run_jvm "$a=$out/clojure.jsa" $x -jar /usr/share/java/clojure.jar main.clj
  # A run's class path ends in its working directory, and the JVM archives no classes from a directory that
  # is not empty: Groovy's runtime is trained from an empty one, running the script through GroovyMain.
  mkdir -p empty
  # shellcheck disable=SC2086
  (cd empty && echo training | java $run_jvm "$a=$out/groovy.jsa" $x -cp "/usr/share/groovy/lib/*" \
    groovy.ui.GroovyMain ../script.groovy)
}

# Made, then checked: with -Xshare:on a JVM that cannot map its archive fails, instead of running without it.
train -XX:ArchiveClassesAtExit
train -XX:SharedArchiveFile -Xshare:on
chmod 0644 "$out"/*.jsa
cd /
rm -rf "$work"
