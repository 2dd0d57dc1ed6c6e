import sys, os
sys.stdout.buffer.write(os.urandom(200000))
