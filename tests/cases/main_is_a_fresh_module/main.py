import sys
print(__name__, sys.modules["__main__"].__dict__ is globals())
