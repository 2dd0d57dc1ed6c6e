import random
kv_set('first', repr(random.random()))
print('stored')
