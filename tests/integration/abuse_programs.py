"""The abuse suite's four attacks written in each language family's language (sandbox_images/<family>).

Each family answers, in its own language: spawn processes until refused, then wait forever; hold ever more
memory; write 400 times 64 KiB to stdout; write 1 MiB files into /box until the disk refuses, then print
"<files written> <the error>".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FamilyAttacks:
    language: str
    fork: str
    memory: str
    flood: str
    disk: str


C = FamilyAttacks(
    language="c-clang",
    fork=r"""#include <stdio.h>
#include <unistd.h>
int main(void) { while (fork() >= 0) {} puts("refused"); fflush(stdout); for (;;) pause(); }""",
    memory=r"""#include <stdlib.h>
#include <string.h>
int main(void) { for (;;) { char *p = malloc(16 << 20); if (p) memset(p, 1, 16 << 20); } }""",
    flood=r"""#include <stdio.h>
#include <string.h>
int main(void) {
    static char b[65536]; memset(b, 'x', sizeof b);
    for (int i = 0; i < 400; i++) fwrite(b, 1, sizeof b, stdout);
}""",
    disk=r"""#include <errno.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    static char b[1 << 20]; char name[32];
    for (int n = 0;; n++) {
        snprintf(name, sizeof name, "/box/f%d", n);
        FILE *f = fopen(name, "wb");
        if (!f || fwrite(b, 1, sizeof b, f) != sizeof b || fclose(f) != 0) {
            printf("%d %s\n", n, strerror(errno));
            return 0;
        }
    }
}""",
)

JAVA = FamilyAttacks(
    language="java",
    fork="""import java.util.*;
public class Main { public static void main(String[] a) throws Exception {
    List<Process> ps = new ArrayList<>();
    try { while (true) ps.add(new ProcessBuilder("sleep", "600").start()); }
    catch (Throwable e) { System.out.println("refused"); }
    Thread.sleep(600000);
} }""",
    memory="""import java.util.*;
public class Main { public static void main(String[] a) {
    List<long[]> held = new ArrayList<>();
    while (true) held.add(new long[2_000_000]);
} }""",
    flood="""public class Main { public static void main(String[] a) {
    byte[] b = new byte[65536]; java.util.Arrays.fill(b, (byte) 'x');
    for (int i = 0; i < 400; i++) System.out.write(b, 0, b.length);
    System.out.flush();
} }""",
    disk="""import java.nio.file.*;
public class Main { public static void main(String[] a) {
    byte[] b = new byte[1 << 20]; int n = 0;
    try { while (true) { Files.write(Paths.get("/box/f" + n), b); n++; } }
    catch (java.io.IOException e) { System.out.println(n + " " + e.getMessage()); }
} }""",
)

CSHARP = FamilyAttacks(
    language="csharp",
    fork="""using System; using System.Diagnostics; using System.Threading;
class P { static void Main() {
    try { while (true) Process.Start("sleep", "600"); } catch (Exception) { Console.WriteLine("refused"); }
    Thread.Sleep(600000);
} }""",
    memory="""using System.Collections.Generic;
class P { static void Main() {
    var held = new List<byte[]>();
    while (true) { var b = new byte[16 << 20]; for (int i = 0; i < b.Length; i += 4096) b[i] = 1; held.Add(b); }
} }""",
    flood="""using System;
class P { static void Main() {
    var o = Console.OpenStandardOutput(); var b = new byte[65536];
    for (int i = 0; i < b.Length; i++) b[i] = (byte) 'x';
    for (int i = 0; i < 400; i++) o.Write(b, 0, b.Length);
} }""",
    disk="""using System; using System.IO;
class P { static void Main() {
    var b = new byte[1 << 20]; int n = 0;
    try { while (true) { File.WriteAllBytes("/box/f" + n, b); n++; } }
    catch (IOException e) { Console.WriteLine(n + " " + e.Message); }
} }""",
)

GO = FamilyAttacks(
    language="go",
    fork="""package main
import ("fmt"; "os/exec"; "time")
func main() {
    for exec.Command("sleep", "600").Start() == nil {}
    fmt.Println("refused")
    time.Sleep(time.Hour)
}""",
    memory="""package main
func main() {
    var held [][]byte
    for { b := make([]byte, 16<<20); for i := range b { b[i] = 1 }; held = append(held, b) }
}""",
    flood="""package main
import ("bytes"; "os")
func main() { b := bytes.Repeat([]byte("x"), 65536); for i := 0; i < 400; i++ { os.Stdout.Write(b) } }""",
    disk="""package main
import ("fmt"; "os")
func main() {
    b := make([]byte, 1<<20)
    for n := 0; ; n++ {
        if err := os.WriteFile(fmt.Sprintf("/box/f%d", n), b, 0o644); err != nil { fmt.Println(n, err); return }
    }
}""",
)

HASKELL = FamilyAttacks(
    language="haskell",
    fork="""import Control.Concurrent (threadDelay)
import Control.Exception (SomeException, try)
import Control.Monad (forever)
import System.Process (spawnProcess)
main = do
  _ <- try (forever (spawnProcess "sleep" ["600"])) :: IO (Either SomeException ())
  putStrLn "refused"
  forever (threadDelay 1000000)""",
    memory="""import qualified Data.Map.Strict as M
main = print (M.size (M.fromList [(i, i) | i <- [1 :: Int ..]]))""",
    flood="""main = mapM_ (\\_ -> putStr (replicate 65536 'x')) [1 .. 400 :: Int]""",
    disk="""import Control.Exception (IOException, try)
import qualified Data.ByteString as B
main = go 0
  where
    go :: Int -> IO ()
    go n = do
      r <- try (B.writeFile ("/box/f" ++ show n) (B.replicate 1048576 0)) :: IO (Either IOException ())
      either (\\e -> putStrLn (show n ++ " " ++ show e)) (\\_ -> go (n + 1)) r""",
)

RUBY = FamilyAttacks(
    language="ruby",
    fork="loop { fork { sleep } rescue (puts 'refused'; sleep) }",
    memory='a = []\nloop { a << "x" * 16_000_000 }',
    flood='400.times { $stdout.write("x" * 65536) }',
    disk=(
        'n = 0\nbegin\n  loop { File.binwrite("/box/f#{n}", "\\0" * (1 << 20)); n += 1 }\n'
        'rescue SystemCallError => e\n  puts "#{n} #{e.message}"\nend'
    ),
)

# One language per image family beyond the runner (whose own attacks are the rest of test_abuse).
BY_FAMILY: dict[str, FamilyAttacks] = {
    "scripting": RUBY,
    "native": C,
    "jvm": JAVA,
    "dotnet": CSHARP,
    "systems": GO,
    "functional": HASKELL,
}
