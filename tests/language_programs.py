"""Programs for each Judge0 language, by Judge0's id: the judge0 SDK tests run them, and bench/languages.py times
the hello worlds. Plain data, so both can import it."""

from __future__ import annotations

# Interpreted languages (the scripting family's, and the runner's Bash, JavaScript and Python), by Judge0's ids:
# hello world, a line of stdin back, and an uncaught error (Judge0's "Runtime Error (NZEC)"), each through the SDK.
INTERPRETED: dict[int, tuple[str, str | None, str]] = {
    55: ('(format t "hello from 55~%")', '(format t "got ~a~%" (read-line))', '(error "boom")'),
    57: ('IO.puts "hello from 57"', 'IO.puts "got " <> String.trim(IO.gets(""))', 'raise "boom"'),
    58: (
        'main(_) -> io:format("hello from 58~n").',
        'main(_) -> L = io:get_line(""), io:format("got ~s", [L]).',
        "main(_) -> erlang:error(boom).",
    ),
    64: ('print("hello from 64")', 'print("got " .. io.read("l"))', 'error("boom")'),
    68: (
        '<?php echo "hello from 68\\n";',
        '<?php echo "got " . trim(fgets(STDIN)) . "\\n";',
        '<?php throw new Exception("boom");',
    ),
    72: ('puts "hello from 72"', 'puts "got " + gets.strip', 'raise "boom"'),
    80: ('cat("hello from 80\\n")', 'cat("got ", readLines(file("stdin"), n = 1), "\\n", sep = "")', 'stop("boom")'),
    82: ("SELECT 'hello from 82';", None, "SELECT * FROM no_such_table;"),
    85: ('print "hello from 85\\n";', 'my $l = <STDIN>; chomp $l; print "got $l\\n";', 'die "boom";'),
    46: ('echo "hello from 46"', 'read l; echo "got $l"', "exit 3"),
    63: (
        'console.log("hello from 63")',
        'console.log("got " + require("fs").readFileSync(0, "utf8").trim())',
        'throw new Error("boom")',
    ),
    71: ('print("hello from 71")', 'print("got " + input())', "raise SystemExit(3)"),
    66: ('printf("hello from 66\\n")', 'printf("got %s\\n", fgetl(stdin))', 'error("boom")'),
    86: ('(println "hello from 86")', '(println (str "got " (read-line)))', '(throw (Exception. "boom"))'),
}


ASM_HELLO = """section .data
msg db "hello from 45", 10
section .text
global _start
_start:
  mov rax, 1
  mov rdi, 1
  mov rsi, msg
  mov rdx, 14
  syscall
  mov rax, 60
  xor rdi, rdi
  syscall
"""
COBOL = "IDENTIFICATION DIVISION.\nPROGRAM-ID. {name}.\n{data}PROCEDURE DIVISION.\n{body}    STOP RUN{code}.\n"
C_HELLO = '#include <stdio.h>\nint main(void) {{ puts("hello from {id}"); return 0; }}'
C_ECHO = '#include <stdio.h>\nint main(void) {{ char l[64]; scanf("%63s", l); printf("got %s\\n", l); return {code}; }}'
CPP_ECHO = '#include <iostream>\nint main() { std::string l; std::cin >> l; std::cout << "got " << l << "\\n"; }'

# Compiled languages, by Judge0's ids: hello world, a line of stdin back (None where the language reads it
# awkwardly), a runtime error (exit code 3 or an exception: NZEC), and a compile error (status 6, the compiler's
# words in compile_output).
COMPILED: dict[int, tuple[str, str | None, str, str]] = {
    45: (ASM_HELLO, None, ASM_HELLO.replace("xor rdi, rdi", "mov rdi, 3"), "mov rax,\n"),
    48: (C_HELLO.format(id=48), C_ECHO.format(code=0), C_ECHO.format(code=3), "int main(void) { return x; }"),
    49: (C_HELLO.format(id=49), C_ECHO.format(code=0), C_ECHO.format(code=3), "int main(void) { return x; }"),
    50: (C_HELLO.format(id=50), C_ECHO.format(code=0), C_ECHO.format(code=3), "int main(void) { return x; }"),
    52: ('#include <iostream>\nint main() { std::cout << "hello from 52\\n"; }', CPP_ECHO,
         "#include <cstdlib>\nint main() { std::exit(3); }", "int main() { return x; }"),
    53: ('#include <iostream>\nint main() { std::cout << "hello from 53\\n"; }', CPP_ECHO,
         "#include <cstdlib>\nint main() { std::exit(3); }", "int main() { return x; }"),
    54: ('#include <iostream>\nint main() { std::cout << "hello from 54\\n"; }', CPP_ECHO,
         "#include <cstdlib>\nint main() { std::exit(3); }", "int main() { return x; }"),
    56: ('import std.stdio;\nvoid main() { writeln("hello from 56"); }',
         'import std.stdio, std.string;\nvoid main() { writeln("got ", readln().strip()); }',
         'void main() { throw new Exception("boom"); }', "void main() { undefined_call(); }"),
    59: ("program h\n  print '(a)', 'hello from 59'\nend program h\n",
         "program e\n character(len=99) :: l\n read(*,'(a)') l\n print '(a)', 'got '//trim(l)\nend program e\n",
         "program e\n  error stop 3\nend program e\n", "program e\n  x = \nend program e\n"),
    67: ("program h; begin writeln('hello from 67') end.",
         "program e; var l: string; begin readln(l); writeln('got ', l) end.",
         "program e; begin halt(3) end.", "program e; begin x := ; end."),
    69: (":- initialization(main).\nmain :- write('hello from 69'), nl, halt.", None,
         ":- initialization(main).\nmain :- halt(3).",
         "main :- write('x'"),
    75: (C_HELLO.format(id=75), C_ECHO.format(code=0), C_ECHO.format(code=3), "int main(void) { return x; }"),
    76: ('#include <iostream>\nint main() { std::cout << "hello from 76\\n"; }', CPP_ECHO,
         "#include <cstdlib>\nint main() { std::exit(3); }", "int main() { return x; }"),
    77: (COBOL.format(name="HELLO", data="", body='    DISPLAY "hello from 77".\n', code=""),
         COBOL.format(name="ECHO", data="DATA DIVISION.\nWORKING-STORAGE SECTION.\n01 L PIC X(20).\n",
                      body='    ACCEPT L.\n    DISPLAY "got " FUNCTION TRIM(L).\n', code=""),
         COBOL.format(name="FAIL", data="", body="", code=" RETURNING 3"),
         COBOL.format(name="BROKEN", data="", body="    DISPLAY NO-SUCH-THING.\n", code="")),
    51: ('class P { static void Main() { System.Console.WriteLine("hello from 51"); } }',
         'class P { static void Main() { System.Console.WriteLine("got " + System.Console.ReadLine()); } }',
         'class P { static void Main() { throw new System.Exception("boom"); } }',
         'class P { static void Main() { int x = "s"; } }'),
    60: ('package main\nimport "fmt"\nfunc main() { fmt.Println("hello from 60") }',
         'package main\nimport "fmt"\nfunc main() { var l string; fmt.Scanln(&l); fmt.Println("got " + l) }',
         'package main\nimport "os"\nfunc main() { os.Exit(3) }', "package main\nfunc main() { x := }"),
    61: ('main = putStrLn "hello from 61"', 'main = getLine >>= \\l -> putStrLn ("got " ++ l)',
         'import System.Exit\nmain = exitWith (ExitFailure 3)', "main = putStrLn (1 + True"),
    62: ('public class Main { public static void main(String[] a) { System.out.println("hello from 62"); } }',
         'public class Main { public static void main(String[] a) {\n'
         '  System.out.println("got " + new java.util.Scanner(System.in).nextLine()); } }',
         'public class Main { public static void main(String[] a) { throw new RuntimeException("boom"); } }',
         "public class Main { int x = ; }"),
    65: ('print_endline "hello from 65"', 'print_endline ("got " ^ read_line ())', "exit 3", "let x = ;;"),
    73: ('fn main() { println!("hello from 73"); }',
         'fn main() { let mut l = String::new(); std::io::stdin().read_line(&mut l).unwrap();\n'
         '  println!("got {}", l.trim()); }',
         "fn main() { std::process::exit(3); }", "fn main() { let x: u8 = \"s\"; }"),
    74: ('console.log("hello from 74");',
         'declare const require: any;  // no Node typings, as in Judge0\n'
         'const l: string = require("fs").readFileSync(0, "utf8").trim();\nconsole.log("got " + l);',
         'throw new Error("boom");', 'const x: number = "s";'),
    78: ('fun main() { println("hello from 78") }', 'fun main() { println("got " + readLine()) }',
         'fun main() { throw RuntimeException("boom") }', 'fun main() { val x: Int = "s" }'),
    79: ('#import <Foundation/Foundation.h>\nint main() { @autoreleasepool { printf("hello from 79\\n"); } return 0; }',
         '#import <Foundation/Foundation.h>\nint main() { char l[64]; scanf("%63s", l); '
         'NSString *s = [NSString stringWithFormat:@"got %s", l]; printf("%s\\n", [s UTF8String]); return 0; }',
         "int main() { return 3; }", "int main() { return x; }"),
    81: ('object Main { def main(a: Array[String]): Unit = println("hello from 81") }',
         'object Main { def main(a: Array[String]): Unit = println("got " + scala.io.StdIn.readLine()) }',
         'object Main { def main(a: Array[String]): Unit = throw new RuntimeException("boom") }',
         'object Main { val x: Int = "s" }'),
    88: ('println "hello from 88"', 'println "got " + System.in.newReader().readLine()', "System.exit(3)",
         "def x = "),
}  # fmt: skip  # reason: one language per entry, its four programs side by side

# Plain Text only prints its source back: nothing to read, crash or compile.
RUNNER_HELLO: dict[int, str] = {43: "hello from 43\n"}


def hello_world(language: int) -> str | None:
    """A program printing "hello from <id>" in that language; None for those that take no source (44, 89)."""
    if language in INTERPRETED:
        return INTERPRETED[language][0]
    if language in COMPILED:
        return COMPILED[language][0]
    return RUNNER_HELLO.get(language)
