E = type('E' * 1_000_000, (Exception,), {})
raise E('boom')
