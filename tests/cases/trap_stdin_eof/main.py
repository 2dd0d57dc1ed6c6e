import sys
print(repr(sys.stdin.read()))
print(repr(input('') if False else ''))
