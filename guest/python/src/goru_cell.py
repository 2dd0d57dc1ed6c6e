"""How one piece of user code runs: compile, execute, and show the last expression.

Like a notebook cell: when the code ends with an expression, it is evaluated
separately and its value (unless None) is returned as a display (`repr`, plus
`_repr_html_()` where the object has one). Everything a guest controls that
leaves the guest here (the display, the exception's message and traceback) is
cut to `cap` bytes where it is produced.
"""

import ast


def compile_cell(code: str):
    """(body, last): code objects for the statements and the final expression (or None)."""
    tree = ast.parse(code, "<string>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expr = tree.body.pop()
        last = compile(ast.Expression(expr.value), "<string>", "eval")
    return compile(tree, "<string>", "exec"), last


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
