"""The official judge0 SDK, unmodified, against Runyard: only the base URL and the key change."""

from __future__ import annotations

import io
import zipfile

import judge0
import pytest
from judge0 import Status

from tests.integration.conftest import Tenant
from tests.language_programs import COMPILED, INTERPRETED, RUNNER_HELLO
from tests.stack import Stack


@pytest.fixture
def sdk(stack: Stack, tenant: Tenant) -> judge0.Client:
    return judge0.Client(stack.url, headers={"X-Auth-Token": tenant.key})


HELLO = {
    judge0.PYTHON: 'print("hello from python")',
    judge0.C: '#include <stdio.h>\nint main(void) { puts("hello from c"); return 0; }',
    judge0.CPP: '#include <iostream>\nint main() { std::cout << "hello from cpp" << std::endl; }',
    judge0.JAVASCRIPT: 'console.log("hello from javascript")',
    judge0.BASH: 'echo "hello from bash"',
}


@pytest.mark.parametrize("language", list(HELLO), ids=lambda lang: lang.name.lower())
def test_every_language_runs(sdk: judge0.Client, language: judge0.LanguageAlias) -> None:
    result = judge0.run(client=sdk, source_code=HELLO[language], language=language)
    assert result.status == Status.ACCEPTED, (result.status, result.compile_output, result.stderr)
    assert result.stdout == f"hello from {language.name.lower()}\n"
    assert float(result.time) >= 0
    assert result.memory > 0


def test_cpp_54_is_served_too(sdk: judge0.Client) -> None:
    result = judge0.run(client=sdk, source_code=HELLO[judge0.CPP].replace("cpp", "54"), language=54)
    assert result.status == Status.ACCEPTED
    assert result.stdout == "hello from 54\n"


def test_multi_file_program(sdk: judge0.Client) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("main.c", '#include <stdio.h>\n#include "greet.h"\nint main(void) { greet(); return 0; }\n')
        zf.writestr("greet.h", '#include <stdio.h>\nstatic void greet(void) { puts("multi-file ok"); }\n')
        zf.writestr("compile", "gcc -O2 -o prog main.c\n")
        zf.writestr("run", "./prog\n")
    files = judge0.Filesystem(content=buf.getvalue())
    result = judge0.run(
        client=sdk, submissions=judge0.Submission(source_code="", language=judge0.MULTI_FILE, additional_files=files)
    )
    assert result.status == Status.ACCEPTED, (result.compile_output, result.stderr)
    assert result.stdout == "multi-file ok\n"


def test_multi_file_without_compile_script(sdk: judge0.Client) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("run", "python3 app.py\n")
        zf.writestr("app.py", "import helper; print(helper.VALUE)\n")
        zf.writestr("helper.py", "VALUE = 42\n")
    files = judge0.Filesystem(content=buf.getvalue())
    result = judge0.run(
        client=sdk, submissions=judge0.Submission(source_code="", language=judge0.MULTI_FILE, additional_files=files)
    )
    assert result.status == Status.ACCEPTED, result.stderr
    assert result.stdout == "42\n"


def test_stdin_and_expected_output(sdk: judge0.Client) -> None:
    code = "a, b = map(int, input().split())\nprint(a + b)   "
    results = judge0.run(
        client=sdk,
        source_code=code,
        language=judge0.PYTHON,
        test_cases=[("1 2", "3"), ("2 2", "4\n\n"), ("5 5", "11")],
    )
    assert [r.status for r in results] == [Status.ACCEPTED, Status.ACCEPTED, Status.WRONG_ANSWER]
    assert [r.stdout for r in results] == ["3\n", "4\n", "10\n"]


def test_compile_error(sdk: judge0.Client) -> None:
    result = judge0.run(client=sdk, source_code="int main(void) { return missing; }", language=judge0.C)
    assert result.status == Status.COMPILATION_ERROR
    assert "missing" in result.compile_output
    assert result.stdout is None


def test_runtime_error_nzec(sdk: judge0.Client) -> None:
    result = judge0.run(client=sdk, source_code="import sys\nprint('out')\nsys.exit(3)", language=judge0.PYTHON)
    assert result.status == Status.RUNTIME_ERROR_NZEC
    assert result.exit_code == 3
    assert result.stdout == "out\n"


def test_runtime_error_sigsegv(sdk: judge0.Client) -> None:
    code = "int main(void) { volatile int *p = 0; *p = 1; return 0; }"
    result = judge0.run(client=sdk, source_code=code, language=judge0.C)
    assert result.status == Status.RUNTIME_ERROR_SIGSEGV
    assert result.exit_signal == 11


def test_cpu_time_limit(sdk: judge0.Client) -> None:
    result = judge0.run(
        client=sdk, source_code="while True: pass", language=judge0.PYTHON, cpu_time_limit=1, cpu_extra_time=0.5
    )
    assert result.status == Status.TIME_LIMIT_EXCEEDED
    assert 1.0 <= float(result.time) < 3.0


def test_wall_time_limit(sdk: judge0.Client) -> None:
    result = judge0.run(
        client=sdk, source_code="import time\ntime.sleep(30)", language=judge0.PYTHON, wall_time_limit=1.5
    )
    assert result.status == Status.TIME_LIMIT_EXCEEDED
    assert 1.5 <= float(result.wall_time) < 5
    assert float(result.time) < 1


def test_batch_of_submissions(sdk: judge0.Client) -> None:
    submissions = [
        judge0.Submission(source_code=f"print({i} * {i})", language=judge0.PYTHON, expected_output=str(i * i))
        for i in range(25)  # more than one batch of 20: the SDK splits it
    ]
    results = judge0.run(client=sdk, submissions=submissions)
    assert len(results) == 25
    assert all(r.status == Status.ACCEPTED for r in results), [r.status for r in results]
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(25)]


def test_sdk_reads_configuration_and_languages(sdk: judge0.Client) -> None:
    assert sdk.version == "1.13.1"
    assert sdk.config.max_submission_batch_size == 20
    names = {lang.id: lang.name for lang in sdk.languages}
    for lang_id in (46, 50, 52, 54, 63, 71, 89):
        assert lang_id in names
    assert names[71].startswith("Python (3.")
    assert names[50].startswith("C (GCC ")
    assert names[63].startswith("JavaScript (Node.js ")


def test_a_lua_syntax_error_is_a_compilation_error(sdk: judge0.Client) -> None:
    result = judge0.run(client=sdk, source_code='print("unclosed"', language=64)
    assert result.status == Status.COMPILATION_ERROR and "luac" in (result.compile_output or ""), result


@pytest.mark.parametrize("language", sorted({**INTERPRETED, **COMPILED}))
def test_each_language_runs_reads_fails_and_fails_to_compile(sdk: judge0.Client, language: int) -> None:
    """Hello world; a line of stdin back; a runtime error (NZEC); a compile error (6) where the language compiles."""
    hello, echo, crash, *broken = (*INTERPRETED[language], None) if language in INTERPRETED else COMPILED[language]
    result = judge0.run(client=sdk, source_code=hello, language=language)
    assert result.status == Status.ACCEPTED, (result.status, result.compile_output, result.stderr)
    assert result.stdout == f"hello from {language}\n"
    if echo is not None:
        result = judge0.run(client=sdk, source_code=echo, language=language, stdin="runyard\n")
        assert (result.status, result.stdout) == (Status.ACCEPTED, "got runyard\n"), (result.status, result.stderr)
    result = judge0.run(client=sdk, source_code=crash, language=language)
    assert result.status == Status.RUNTIME_ERROR_NZEC, (result.status, result.stdout, result.stderr)
    if broken[0] is not None:
        result = judge0.run(client=sdk, source_code=broken[0], language=language)
        assert result.status == Status.COMPILATION_ERROR and result.compile_output, (result.status, result.stdout)


@pytest.mark.parametrize("language", sorted(RUNNER_HELLO))
def test_the_runner_family_says_hello_by_every_id(sdk: judge0.Client, language: int) -> None:
    result = judge0.run(client=sdk, source_code=RUNNER_HELLO[language], language=language)
    assert (result.status, result.stdout) == (Status.ACCEPTED, f"hello from {language}\n"), result
