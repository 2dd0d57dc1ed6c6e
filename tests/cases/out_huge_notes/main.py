e = ValueError('v')
e.add_note('n' * 5_000_000)
raise e
