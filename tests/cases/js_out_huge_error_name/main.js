const e = new Error('m'); e.name = 'N'.repeat(10_000_000); throw e;
