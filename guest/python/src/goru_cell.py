"""How one piece of user code runs: compile, execute, and show the last expression.

Like a notebook cell: when the code ends with an expression, it is evaluated
separately and its value (unless None) is returned as a display (`repr`, plus
`_repr_html_()` where the object has one). Everything a guest controls that
leaves the guest here (the display, the exception's message and traceback) is
cut to `cap` bytes where it is produced.
"""

import ast

FILENAME = "<string>"

# Module-level annotations compile to a `__annotate__` function the module
# code stores; two code objects that both store one must not run one after
# the other (the second would hide the first's annotations).
_ANNOTATION_NAMES = frozenset(("__annotate__", "__conditional_annotations__"))

# A line starting with one of these cannot start a statement (a backslash
# only joins it to the next).
_NOT_A_START = frozenset(" \t#)]}\\")


def compile_cell(code: str):
    """(body, last): code objects to run in order, and the final expression's (or None)."""
    split = _split_last_statement(code)
    if split is not None:
        return split
    return _compile_through_ast(code)


def _compile_through_ast(code: str):
    """The general way: parse the cell, take the last statement off if it is an expression."""
    tree = ast.parse(code, FILENAME, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expr = tree.body.pop()
        last = compile(ast.Expression(expr.value), FILENAME, "eval", dont_inherit=True)
    return (compile(tree, FILENAME, "exec", dont_inherit=True),), last


def _split_last_statement(code: str):
    """The cheap way, for the cells it can decide; None for the others.

    Building the AST of a cell as Python objects cost a fresh instance about
    as much as compiling it again (measured: +0.1 ms of a run's ~0.35 ms in
    the guest). Instead, the cell is cut before its last line that starts at
    column 0 (a statement's first line) and both parts are compiled from
    source. The cut is taken only when it is provably a statement boundary:
    the head compiles on its own (so it does not end inside a bracket, a
    string or a continued line), the tail compiles on its own and holds one
    statement (no other line of it starts at column 0, and no `;`). Then the
    tail is the last statement, and it is an expression exactly when it
    compiles in "eval" mode (a starred tuple such as `*a, b` is the one
    expression statement "eval" refuses: it goes the general way, as does
    anything unusual).
    """
    if "\f" in code or "__future__" in code or "\r" in code.replace("\r\n", ""):
        return None  # form feeds reset indentation; futures change how the tail compiles
    lines = code.split("\n")
    start = len(lines) - 1
    while start >= 0 and not _may_start_statement(lines[start]):
        start -= 1
    while start > 0 and lines[start - 1].startswith("@"):
        start -= 1  # a decorated definition starts at its first decorator
    if start < 0:
        return None
    tail = "\n".join(lines[start:]).rstrip()
    if ";" in tail:
        return None
    padded = "\n" * start + tail  # keeps the tail's line numbers in tracebacks
    head = "\n".join(lines[:start])
    try:
        last = None
        if _first_word(lines[start]) not in _STATEMENT_KEYWORDS:
            try:
                last = compile(padded, FILENAME, "eval", dont_inherit=True)
            except SyntaxError:
                pass
        body = (compile(head, FILENAME, "exec", dont_inherit=True),) if head.strip() else ()
        if last is not None:
            return body, last
        if "*" in tail:
            return None  # `*a, b` is an expression statement "eval" refuses
        statement = compile(padded, FILENAME, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None  # the general way reports the error against the whole cell
    if body and _ANNOTATION_NAMES & set(body[0].co_names) and _ANNOTATION_NAMES & set(statement.co_names):
        return None
    return body + (statement,), None


# Keywords no expression starts with (soft keywords such as `match` can).
_STATEMENT_KEYWORDS = frozenset(
    "assert async break class continue def del for from global if import"
    " nonlocal pass raise return try while with".split()
)

# Keywords that continue the compound statement above them.
_CLAUSE_KEYWORDS = frozenset(("elif", "else", "except", "finally"))


def _may_start_statement(line: str) -> bool:
    return bool(line.strip()) and line[0] not in _NOT_A_START and _first_word(line) not in _CLAUSE_KEYWORDS


def _first_word(line: str) -> str:
    end = 0
    while end < len(line) and (line[end].isalnum() or line[end] == "_"):
        end += 1
    return line[:end]


def cut(text: str, cap: int):
    """`text` limited to `cap` UTF-8 bytes, and whether it was cut.

    Lone surrogates (from `'\\ud800'` in a message or repr) cannot cross to
    the host as a string: they become backslash escapes here.
    """
    # A character is at most 4 bytes and an escape 6: slicing by characters
    # first keeps the encode below bounded whatever the guest produced.
    head = text[: cap + 1]
    data = head.encode("utf-8", "backslashreplace")
    if len(data) <= cap and len(head) == len(text):
        return data.decode("utf-8"), False
    return data[:cap].decode("utf-8", "ignore"), True


def display(value, cap: int):
    """(plain, html, truncated) for a value that is not None."""
    plain, cut_plain = cut(repr(value), cap)
    html, cut_html = None, False
    method = getattr(type(value), "_repr_html_", None)
    if callable(method):
        try:
            rendered = method(value)
        except Exception:  # noqa: BLE001 - a broken _repr_html_ leaves text/plain
            rendered = None
        if isinstance(rendered, str):
            html, cut_html = cut(rendered, cap)
    return plain, html, cut_plain or cut_html
