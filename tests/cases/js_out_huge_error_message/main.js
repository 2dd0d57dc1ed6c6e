throw new Error('e'.repeat(50_000_000));
