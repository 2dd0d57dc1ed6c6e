raise ValueError('\ud800')
