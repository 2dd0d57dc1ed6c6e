import builtins
builtins.__import__ = None
builtins.print = None
raise ValueError('still reported')
