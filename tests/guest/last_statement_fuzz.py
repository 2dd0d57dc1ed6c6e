# Differential check, run inside the guest: for random cells built from
# awkward fragments, the cheap cut (goru_cell._split_last_statement) must
# either decline or behave exactly like the AST way (same shown value, same
# output, same names defined). Prints "cut N, mismatches M" and the first few.
import contextlib
import io
import random
import re

import goru_cell as g

FRAGMENTS = [
    "x = 1", "x", "(x", ")", "[", "]", "x,", "*[x], x", '"""', "'''", "#", "# c", "\\",
    "if x:", "    x = 2", "    x", "else:", "elif x:", "def f():", "    return x", "f()",
    "@staticmethod", "class A:", "    pass", "x + \\", "1", "'a'", "f'{", "}'", "x: int = 2",
    "y: int = 3", "for i in range(2):", "    print(i)", "print(x)", "  ", "", "try:",
    "except Exception:", "finally:", "x = (1,", "2)", "lambda: x", "not x", "-x", "match x:",
    "    case 1:", "        pass", "a;b", "x = '''", "abc", "x if x else 1", "{", "}", "'",
    '"', "x = f'''{", "}'''",
]


def outcome(body, last):
    namespace = {}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            for part in body:
                exec(part, namespace)
            value = eval(last, namespace) if last is not None else None
    except Exception as exc:  # noqa: BLE001 - compared, not raised
        return ("raised", type(exc).__name__)
    names = sorted(k for k in namespace if k != "__builtins__")
    return re.sub(" at 0x[0-9a-f]+", "", repr(value)), out.getvalue(), names


rng = random.Random(20261126)
cut = mismatches = 0
for _ in range(5000):
    code = "\n".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 6)))
    split = g._split_last_statement(code)
    if split is None:
        continue
    cut += 1
    try:
        want = outcome(*g._compile_through_ast(code))
    except SyntaxError:
        want = "syntax error"
    got = outcome(*split)
    if got != want:
        mismatches += 1
        if mismatches <= 5:
            print("MISMATCH", repr(code), want, got)
print(f"cut {cut}, mismatches {mismatches}")
