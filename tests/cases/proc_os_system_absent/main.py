import os
print([f for f in ['system', 'fork', 'execv', 'execve', 'kill', 'spawnv', 'forkpty'] if hasattr(os, f)])
