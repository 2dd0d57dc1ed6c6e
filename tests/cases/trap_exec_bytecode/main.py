import types
code = compile('1', 'x', 'eval')
try:
    bad = code.replace(co_code=b'\xff' * 100)
    print(eval(bad))
except Exception as e:
    print('refused', type(e).__name__)
