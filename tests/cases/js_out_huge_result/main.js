'r'.repeat(50_000_000)
