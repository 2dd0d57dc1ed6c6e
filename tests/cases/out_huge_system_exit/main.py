raise SystemExit('y' * 5_000_000)
