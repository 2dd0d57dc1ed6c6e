# No host environment variables and no arguments leak in.
import os, sys
print(dict(os.environ))
print(sys.argv[1:])
