import os
print(sorted(os.listdir('/data')))
print(fs_list('/data'))
