import sys
sys.stdout = None
sys.stderr = None
print('lost')
raise ValueError('reported')
